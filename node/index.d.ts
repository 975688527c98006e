// Type declarations of the `refundkit` npm package (hand-written; checked
// by `tsc --noEmit --strict` over examples/ in scripts/test-node).

/// <reference types="node" />

/** The defaults of the public contract (the same in every language). */
export const DEFAULTS: Readonly<{
  baseUrl: string;
  maxRetries: number;
  timeoutMs: number;
  totalTimeoutMs: number;
  webhookToleranceSeconds: number;
}>;

export interface ClientOptions {
  /** Default `https://payments.yoco.com`; plain `http` only for loopback hosts. */
  baseUrl?: string;
  /** Retries after the first attempt (default 2, at most 10). */
  maxRetries?: number;
  /** Time allowed for one attempt, in milliseconds (default 30 000). */
  timeoutMs?: number;
  /** Time allowed for all attempts of one call, in milliseconds (default 90 000). */
  totalTimeoutMs?: number;
}

export interface RefundOptions {
  /** Cents to refund; omitted: everything still refundable. */
  amount?: number;
  /** String to string, to reconcile with your own records. */
  metadata?: Record<string, string>;
  /** Sent on every attempt; default a fresh UUIDv4 per call. */
  idempotencyKey?: string;
  /** Aborting rejects the call with an `AbortError` that carries the key. */
  signal?: AbortSignal;
}

/** An accepted refund. Final confirmation arrives as a `refund.succeeded` webhook. */
export interface Refund {
  /** The refunded checkout (`ch_…`). */
  readonly checkoutId: string;
  /** The refund (`rfd_…`); webhooks carry the same id. */
  readonly refundId: string;
  /** The status the service reported, e.g. `successful` (unknown values are kept). */
  readonly status: string;
  /** The service's message, e.g. `Your refund has been processed`. */
  readonly message: string | null;
  /** The idempotency key actually sent: persist it to retry safely. */
  readonly idempotencyKey: string;
  /** Whether the service replayed an earlier answer for this key. */
  readonly replayed: boolean;
  /** How many HTTP attempts this call made. */
  readonly attempts: number;
  /** The service's request id (`x-request-id`), when it sent one. */
  readonly requestId: string | null;
  /** Whether `status` says the refund went through (`successful`, `succeeded`). */
  readonly succeeded: boolean;
  /** Time from the first attempt's start to the answer, backoff included. */
  readonly elapsedMs: number;
}

/** Token mode: returns the bearer token for the relay (sync or async). */
export type TokenProvider = (forceRefresh: boolean) => string | Promise<string>;

export interface RelayClientOptions {
  /** Retries after the first attempt (default 2, at most 10). */
  maxRetries?: number;
  /** Time allowed for one attempt, in milliseconds (default 30 000). */
  timeoutMs?: number;
  /** Time allowed for all attempts of one call, in milliseconds (default 90 000). */
  totalTimeoutMs?: number;
}

/**
 * Refunds through the Checkout API. Share one instance per process: it
 * pools connections, and refunds run on the addon's own threads, never
 * blocking the event loop. `util.inspect` shows the key masked.
 */
export class Client {
  /** Throws `ConfigurationError` for a bad key, base URL or limit. Server side only. */
  constructor(secretKey: string, options?: ClientOptions);
  /**
   * A token-mode client for apps, talking to the merchant's relay at
   * `baseUrl`. After a 401 the provider is asked once with
   * `forceRefresh = true` and the attempt repeats with the same key.
   */
  static forRelay(baseUrl: string, tokenProvider: TokenProvider, options?: RelayClientOptions): Client;
  /** The base URL, without a trailing slash. */
  readonly baseUrl: string;
  /** Retries after the first attempt. */
  readonly maxRetries: number;
  /** Time allowed for one attempt, in milliseconds. */
  readonly timeoutMs: number;
  /** Time allowed for all attempts of one call, in milliseconds. */
  readonly totalTimeoutMs: number;
  /**
   * Refunds `checkoutId` (all that is left, or `amount` cents). Rejects with
   * an `InvalidInputError` before any I/O for bad arguments, another
   * `RefundKitError` subclass when the call fails, or an `AbortError` when
   * `signal` aborts it; each carries the idempotency key to retry with.
   */
  refund(checkoutId: string, options?: RefundOptions): Promise<Refund>;
  toJSON(): { secretKey: string; baseUrl: string } | { tokenProvider: string; baseUrl: string };
}

/** Header names to values; names compare case-insensitively. */
export type WebhookHeaders =
  | Headers
  | Map<string, string>
  | Iterable<readonly [string, string]>
  | Record<string, string | string[] | undefined>;

export interface WebhookVerifierOptions {
  /** How far `webhook-timestamp` may be from now, in seconds (default 300). */
  toleranceSeconds?: number;
}

/** A verified webhook event. Fields absent from the payload are `null`. */
export class WebhookEvent {
  private constructor();
  /** The event id (`evt_…`). */
  readonly id: string;
  /** The `webhook-id` header: deduplicate deliveries on this. */
  readonly webhookId: string;
  /** The event type, e.g. `refund.succeeded`. */
  readonly type: string;
  /** `createdDate`, as sent. */
  readonly createdDate: string | null;
  /** The raw `payload` object (empty when the event has none), parsed on first access. */
  readonly payload: Record<string, unknown>;
  /** The refund (`rfd_…`) of a `refund.*` event. */
  readonly refundId: string | null;
  /** The checkout refunded or paid (`ch_…`). */
  readonly checkoutId: string | null;
  /** The payment refunded or made (`p_…`). */
  readonly paymentId: string | null;
  /** Cents refunded by this refund, or paid. */
  readonly amount: number | null;
  /** Currency code, e.g. `ZAR`. */
  readonly currency: string | null;
  /** `succeeded` or `failed`. */
  readonly status: string | null;
  /** `live` or `test`. */
  readonly mode: string | null;
  /** Why the refund failed (`refund.failed` only). */
  readonly failureReason: string | null;
  /** The fields above, `payload` included. */
  toJSON(): Record<string, unknown>;
}

/** Verifies Standard Webhooks signatures and parses the events. */
export class WebhookVerifier {
  /** One `whsec_…` secret, or several while rotating. */
  constructor(secret: string | readonly string[], options?: WebhookVerifierOptions);
  /**
   * Verifies one delivery. `rawBody` is the body exactly as received (a
   * parsed object throws a `TypeError` saying so). Throws
   * `WebhookVerificationError` with the reason. `options.now` (Unix
   * seconds) replaces the clock.
   */
  verify(
    headers: WebhookHeaders,
    rawBody: Buffer | Uint8Array | ArrayBuffer | string,
    options?: { now?: number },
  ): WebhookEvent;
}

/** A deterministic (UUIDv5) idempotency key: the same value in every language. */
export function idempotencyKeyFor(namespace: string, ...parts: string[]): string;

/** The severity of a log record. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One of refundkit's log records (README, "Logs"). */
export interface LogRecord {
  level: LogLevel;
  /** One line: `refund attempt checkout_id=… idempotency_key=… …`. */
  message: string;
  /** The same values by name; absent ones are left out. */
  fields: {
    checkout_id?: string;
    idempotency_key?: string;
    /** Attempt number, 1-based (`refund attempt`). */
    attempt?: number;
    /** Attempts made (`refund outcome unknown`). */
    attempts?: number;
    /** `refunded`, or the error kind. */
    outcome?: string;
    /** HTTP status, absent when no answer came. */
    status?: number;
    request_id?: string;
    elapsed_ms?: number;
    /** `done`, `retry`, `refresh_token` or `stop`. */
    decision?: string;
    /** The wait before the next attempt, when `decision` is `retry`. */
    delay_ms?: number;
  };
}

/**
 * Sends refundkit's log records up to `options.level` (default `debug`) to
 * `logger`, on the event loop; `null` stops. Never a secret key or token.
 */
export function setLogger(logger: ((record: LogRecord) => void) | null, options?: { level?: LogLevel }): void;
/** Fault probabilities (0 to 1) of the emulator's refund endpoint, named as its faults JSON. */
export interface EmulatorFaults {
  /** Cut the connection before the refund is made. */
  drop_before?: number;
  /** Make the refund, then cut the connection: the answer is lost. */
  drop_after?: number;
  /** Answer 500 without making the refund. */
  error_5xx?: number;
  /** Answer 429 with `Retry-After: retry_after_secs`. */
  rate_limit?: number;
  retry_after_secs?: number;
  /** Wait `delay_ms` before handling the request. */
  delay?: number;
  delay_ms?: number;
  /** Seed of the fault dice, for a run that repeats exactly. */
  seed?: number | null;
}

/** A refund the emulator actually made (one row of its ledger). */
export interface LedgerRefund {
  refundId: string;
  checkoutId: string;
  paymentId: string | null;
  amount: number;
  currency: string;
  /** `succeeded`, or `failed` for checkouts set up to fail. */
  status: string;
  mode: string;
  idempotencyKey: string | null;
  metadata: Record<string, string> | null;
  createdDate: string;
}

/** A registered webhook; `secret` verifies its deliveries (never shown by inspect or JSON). */
export interface WebhookSubscription {
  readonly id: string;
  readonly url: string;
  readonly secret: string;
}

/** One webhook delivery attempt, with the exact signed request. */
export interface Delivery {
  webhookId: string;
  subscriptionId: string;
  eventType: string;
  url: string;
  attempt: number;
  /** The receiver's status; null when it did not answer. */
  status: number | null;
  error: string | null;
  timestamp: number;
  /** `webhook-id`, `webhook-timestamp`, `webhook-signature`. */
  headers: Record<string, string>;
  body: Buffer;
}

/** An in-process emulator of the Checkout API, from `startEmulator()`. */
export class Emulator {
  private constructor();
  /** `http://127.0.0.1:PORT`: the `baseUrl` of your client. */
  readonly url: string;
  readonly port: number;
  /** The one key it accepts (`sk_live_…`); any other gets 403. */
  readonly secretKey: string;
  readonly closed: boolean;
  /** Creates and pays a live checkout of `amount` cents (at least 200); returns its id. */
  paidCheckout(amount: number, metadata?: Record<string, string>): string;
  /** The ledger, oldest first: refunds actually made, of one checkout or of all. */
  refunds(checkoutId?: string): LedgerRefund[];
  /** Replaces the faults and returns them; `faults({})` clears them. Unknown names throw a TypeError. */
  faults(faults?: EmulatorFaults): Required<EmulatorFaults>;
  /** Registers `url`: later events are signed and POSTed there, and logged. */
  registerWebhook(url: string, name?: string): WebhookSubscription;
  /** Every delivery attempt so far, oldest first. */
  deliveries(): Delivery[];
  /** The attempts of `eventType` once there are at least `count`; rejects after `timeoutMs` (10 000). */
  waitForDeliveries(eventType?: string | null, options?: { count?: number; timeoutMs?: number }): Promise<Delivery[]>;
  /** Forgets every checkout, refund, key, webhook, delivery and fault. */
  reset(): void;
  /** Stops the server; resolves once the port is free. */
  close(): Promise<void>;
}

/** Starts an emulator inside this process on 127.0.0.1 and a free port. */
export function startEmulator(options?: { webhookTimeScale?: number }): Promise<Emulator>;

/** Every kind of failure, as `RefundKitError.kind`. */
export type ErrorKind =
  | 'configuration'
  | 'invalid_input'
  | 'authentication'
  | 'not_found'
  | 'invalid_request'
  | 'already_refunded'
  | 'idempotency_conflict'
  | 'idempotency_mismatch'
  | 'rate_limited'
  | 'server'
  | 'network'
  | 'timeout'
  | 'unexpected_response'
  | 'webhook_verification';

/**
 * Base class of every refundkit error. `message` is a sentence for people
 * (never the secret key). When `outcomeUnknown` is true the refund may have
 * been made although the call failed: retry later with `idempotencyKey`.
 */
export class RefundKitError extends Error {
  /** A stable snake_case name of what went wrong. */
  readonly kind: ErrorKind;
  /** The explanation alone: the server's message when it gave one. */
  readonly explanation: string;
  /** For invalid input and configuration: the argument at fault. */
  readonly field: string | null;
  /** The HTTP status, when the service answered. */
  readonly status: number | null;
  /** The service's `errorCode`. */
  readonly errorCode: string | null;
  /** The service's request id (`x-request-id`). */
  readonly requestId: string | null;
  /** The idempotency key the call sent (null when nothing was sent). */
  readonly idempotencyKey: string | null;
  /** The raw response body. */
  readonly body: string | null;
  /** Whether the same request (same key) may succeed later. */
  readonly retryable: boolean;
  /** Whether the refund may have been made although this call failed. */
  readonly outcomeUnknown: boolean;
  /** How many HTTP attempts were made (0 when nothing was sent). */
  readonly attempts: number;
  /** The service's `Retry-After`, in milliseconds. */
  readonly retryAfterMs: number | null;
}
/** A bad secret key, base URL, limit or webhook secret. */
export class ConfigurationError extends RefundKitError {}
/** A bad argument (`field` names it); nothing was sent. */
export class InvalidInputError extends RefundKitError {}
/** The service answered with an error; `status` is set. */
export class ApiError extends RefundKitError {}
/** 401/403: the secret key is missing or wrong. */
export class AuthenticationError extends ApiError {}
/** 404: the checkout does not exist for this key. */
export class NotFoundError extends ApiError {}
/** 400: the refund was refused. */
export class InvalidRequestError extends ApiError {}
/** 400: nothing is left to refund on this checkout. */
export class AlreadyRefundedError extends InvalidRequestError {}
/** 409: a request with this key is still being processed. */
export class IdempotencyConflictError extends ApiError {}
/** 422: this key was used for a different request. */
export class IdempotencyMismatchError extends ApiError {}
/** 429: too many requests; see `retryAfterMs`. */
export class RateLimitError extends ApiError {}
/** 5xx: the service failed. */
export class ServerError extends ApiError {}
/** An answer the API does not document. */
export class UnexpectedResponseError extends ApiError {}
/** No HTTP answer: connection refused or reset, TLS or DNS failure. */
export class NetworkError extends RefundKitError {}
/** No answer in time (per attempt or in total). */
export class TimeoutError extends NetworkError {}
/** A webhook failed its signature, timestamp or format checks. */
export class WebhookVerificationError extends RefundKitError {}

/** A refund abandoned through its `AbortSignal`; `cause` is the signal's reason. */
export class AbortError extends Error {
  readonly name: 'AbortError';
  readonly code: 'ABORT_ERR';
  /** Retry with this key: the request may already have reached the service. */
  readonly idempotencyKey: string;
  readonly outcomeUnknown: true;
}
