'use strict';
// refundkit for Node.js: refunds through the Checkout API (idempotent,
// retried, precisely typed errors) and webhook verification, backed by the
// Rust core through a native addon (bindings/node).
//
// This file converts arguments and results; every decision (validation,
// retries, parsing, signatures) is made in the core.

const util = require('node:util');
const native = require('./native.js');
const errors = require('./errors.js');
const testing = require('./testing.js');

const { AbortError, fromNative, isNative } = errors;

/** Marks the constructor call that wraps an existing native client. */
const WRAP = Symbol('refundkit.wrap');

/** `node 20.11.1`, for the User-Agent. */
const RUNTIME = `node ${process.versions.node}`;

/** Runs a native call, turning a native error object into its exception. */
function nativeCall(call) {
  try {
    return call();
  } catch (thrown) {
    throw isNative(thrown) ? fromNative(thrown) : thrown;
  }
}

function checkType(name, value, type) {
  if (value !== undefined && typeof value !== type) {
    throw new TypeError(`${name} must be a ${type}, not ${value === null ? 'null' : typeof value}`);
  }
}

/** The retry and time limits of either kind of client, type-checked. */
function limitsOf({ maxRetries, timeoutMs, totalTimeoutMs }) {
  checkType('maxRetries', maxRetries, 'number');
  checkType('timeoutMs', timeoutMs, 'number');
  checkType('totalTimeoutMs', totalTimeoutMs, 'number');
  return { maxRetries, timeoutMs, totalTimeoutMs };
}

/**
 * Refunds through the Checkout API. One instance is meant to be shared by
 * the whole process: it pools connections, and refunds run on the addon's
 * own threads, never blocking the event loop.
 */
class Client {
  #native;

  /**
   * @param {string} secretKey `sk_live_…` or `sk_test_…`
   * @param {{baseUrl?: string, maxRetries?: number, timeoutMs?: number, totalTimeoutMs?: number}} [options]
   */
  constructor(secretKey, options = {}) {
    if (secretKey === WRAP) {
      this.#native = options;
      return;
    }
    if (typeof secretKey !== 'string') {
      throw new TypeError('secretKey must be a string (sk_live_… or sk_test_…)');
    }
    const { baseUrl } = options;
    checkType('baseUrl', baseUrl, 'string');
    const limits = limitsOf(options);
    this.#native = nativeCall(() => new native.NativeClient(secretKey, baseUrl, limits, RUNTIME));
  }

  /**
   * A token-mode client for apps: refunds go to the merchant's relay at
   * `baseUrl` with bearer tokens from `tokenProvider(forceRefresh)` (sync or
   * async); the secret key stays on the merchant's server. After a 401 from
   * the relay the provider is asked once with `forceRefresh = true` and the
   * attempt repeats with the same idempotency key. A token that looks like a
   * secret key is refused with a `ConfigurationError` before anything is sent.
   */
  static forRelay(baseUrl, tokenProvider, options = {}) {
    checkType('baseUrl', baseUrl, 'string');
    if (typeof tokenProvider !== 'function') {
      throw new TypeError('tokenProvider must be a function (forceRefresh) => token or a promise of one');
    }
    const limits = limitsOf(options);
    const provider = async (forceRefresh) => {
      const token = await tokenProvider(forceRefresh);
      if (typeof token !== 'string') {
        throw new TypeError(`the token provider returned ${token === null ? 'null' : typeof token}, not a string`);
      }
      return token;
    };
    return new Client(WRAP, nativeCall(
      () => native.NativeClient.forRelay(baseUrl, provider, limits, RUNTIME),
    ));
  }

  /** The base URL, without a trailing slash. */
  get baseUrl() {
    return this.#native.baseUrl;
  }

  /** Retries after the first attempt. */
  get maxRetries() {
    return this.#native.maxRetries;
  }

  /** Time allowed for one attempt, in milliseconds. */
  get timeoutMs() {
    return this.#native.timeoutMs;
  }

  /** Time allowed for all attempts of one call, in milliseconds. */
  get totalTimeoutMs() {
    return this.#native.totalTimeoutMs;
  }

  /**
   * Refunds `checkoutId`: all that is left, or `amount` cents.
   *
   * Sends one idempotency key on every attempt: `idempotencyKey`, or a
   * fresh UUIDv4. It is on the result, on every error, and on the
   * `AbortError` when `signal` aborts the call: retry with it.
   */
  async refund(checkoutId, options = {}) {
    const { amount, metadata, idempotencyKey, signal } = options;
    const call = nativeCall(() => this.#native.prepare(checkoutId, amount, metadata, idempotencyKey));
    let outcome;
    if (signal === undefined) {
      outcome = await this.#native.send(call);
    } else {
      if (signal.aborted) throw new AbortError(call.idempotencyKey, signal.reason);
      const abort = () => call.cancel();
      signal.addEventListener('abort', abort, { once: true });
      try {
        outcome = await this.#native.send(call);
      } finally {
        signal.removeEventListener('abort', abort);
      }
    }
    if (outcome.refund !== undefined) return outcome.refund;
    if (outcome.error !== undefined) throw fromNative(outcome.error);
    throw new AbortError(call.idempotencyKey, signal?.reason);
  }

  /** What `util.inspect` and `console.log` show: never the secret key or a token. */
  [util.inspect.custom]() {
    const credential = this.#native.isRelay
      ? 'tokenProvider: [Function]'
      : `secretKey: '${this.#native.maskedSecretKey}'`;
    return `Client { ${credential}, baseUrl: '${this.#native.baseUrl}' }`;
  }

  toJSON() {
    return this.#native.isRelay
      ? { tokenProvider: '[Function]', baseUrl: this.#native.baseUrl }
      : { secretKey: this.#native.maskedSecretKey, baseUrl: this.#native.baseUrl };
  }

  toString() {
    return util.inspect(this);
  }
}

const PARSED_BODY_HELP =
  'rawBody must be the request body exactly as received, as a Buffer or string; ' +
  'this looks like a body already parsed as JSON, and re-serialising it changes the bytes ' +
  'the signature covers. Read the raw bytes instead (in Express: ' +
  "express.raw({ type: 'application/json' }) on the webhook route)";

function rawBytes(rawBody) {
  if (typeof rawBody === 'string' || rawBody instanceof Uint8Array) return rawBody;
  if (rawBody instanceof ArrayBuffer) return new Uint8Array(rawBody);
  if (typeof rawBody === 'object' && rawBody !== null) throw new TypeError(PARSED_BODY_HELP);
  throw new TypeError(`rawBody must be a Buffer or string, not ${rawBody === null ? 'null' : typeof rawBody}`);
}

/**
 * Headers as a flat [name, value, …] list: from a fetch `Headers`, a
 * `Map`, an array of pairs, or an object such as `req.headers` (array
 * values give one pair each, so duplicates stay visible to the core).
 */
function headerList(headers) {
  if (typeof headers !== 'object' || headers === null) {
    throw new TypeError('headers must be an object, Headers, Map or array of [name, value] pairs');
  }
  const pairs = typeof headers[Symbol.iterator] === 'function' ? headers : Object.entries(headers);
  const flat = [];
  for (const [name, value] of pairs) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) {
      if (typeof name !== 'string' || typeof one !== 'string') {
        throw new TypeError('headers must map string names to string values');
      }
      flat.push(name, one);
    }
  }
  return flat;
}

/**
 * A verified webhook event. Fields absent from the payload are `null`;
 * `payload` is the raw payload object, parsed on first access.
 */
class WebhookEvent {
  #payloadJson;
  #payload;

  /** @param {Array} fields the addon's positional event (bindings/node/src/webhooks.rs) */
  constructor(fields) {
    this.id = fields[0];
    this.webhookId = fields[1];
    this.type = fields[2];
    this.createdDate = fields[3];
    this.#payloadJson = fields[4];
    this.refundId = fields[5];
    this.checkoutId = fields[6];
    this.paymentId = fields[7];
    this.amount = fields[8];
    this.currency = fields[9];
    this.status = fields[10];
    this.mode = fields[11];
    this.failureReason = fields[12];
  }

  get payload() {
    if (this.#payload === undefined) this.#payload = JSON.parse(this.#payloadJson);
    return this.#payload;
  }

  toJSON() {
    return { ...this, payload: this.payload };
  }
}

/** Verifies Standard Webhooks signatures and parses the events. */
class WebhookVerifier {
  #native;
  #secrets;

  /**
   * @param {string | string[]} secret one `whsec_…` secret, or several while rotating
   * @param {{toleranceSeconds?: number}} [options] how far `webhook-timestamp` may be from now (300)
   */
  constructor(secret, options = {}) {
    const secrets = typeof secret === 'string' ? [secret] : secret;
    if (!Array.isArray(secrets) || !secrets.every((s) => typeof s === 'string')) {
      throw new TypeError('secret must be a string or an array of strings (whsec_…)');
    }
    const { toleranceSeconds } = options;
    checkType('toleranceSeconds', toleranceSeconds, 'number');
    this.#native = nativeCall(() => new native.NativeWebhookVerifier(secrets, toleranceSeconds));
    this.#secrets = secrets.length;
  }

  /**
   * Verifies one delivery and returns its event; throws
   * `WebhookVerificationError` with the reason. `options.now` (Unix
   * seconds) replaces the clock.
   */
  verify(headers, rawBody, options) {
    const body = rawBytes(rawBody);
    const list = headerList(headers);
    const now = options?.now;
    checkType('now', now, 'number');
    return new WebhookEvent(nativeCall(() => this.#native.verify(list, body, now)));
  }

  [util.inspect.custom]() {
    return `WebhookVerifier { secrets: ${this.#secrets}, toleranceSeconds: ${this.#native.toleranceSeconds} }`;
  }
}

/**
 * A deterministic (UUIDv5) idempotency key for `parts` within `namespace`:
 * the same arguments give the same key in every language and process.
 */
function idempotencyKeyFor(namespace, ...parts) {
  checkType('namespace', namespace, 'string');
  if (!parts.every((p) => typeof p === 'string')) throw new TypeError('parts must be strings');
  return nativeCall(() => native.idempotencyKeyFor(namespace, parts));
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'];

/**
 * Sends refundkit's log records to `logger(record)` on the event loop:
 * `{level, message, fields}`, `debug` per attempt and `warn` when a refund's
 * outcome is unknown, never holding a secret key or token. Records above
 * `options.level` (default `debug`) cost nothing. `setLogger(null)` stops.
 * A logger that throws loses its record, never a refund.
 */
function setLogger(logger, options = {}) {
  if (logger === null || logger === undefined) {
    native.setNativeLogger(null, null);
    return;
  }
  if (typeof logger !== 'function') throw new TypeError('logger must be a function or null');
  const { level = 'debug' } = options;
  if (!LOG_LEVELS.includes(level)) throw new TypeError(`level must be one of ${LOG_LEVELS.join(', ')}`);
  native.setNativeLogger((record) => {
    try {
      logger(record);
    } catch {
      // A failing logger must not become an uncaught exception.
    }
  }, level);
}

/** The defaults of the public contract (the same in every language). */
const DEFAULTS = Object.freeze(native.defaults());

module.exports = {
  DEFAULTS,
  Client,
  WebhookVerifier,
  WebhookEvent,
  idempotencyKeyFor,
  setLogger,
  startEmulator: testing.startEmulator,
  Emulator: testing.Emulator,
  RefundKitError: errors.RefundKitError,
  ConfigurationError: errors.ConfigurationError,
  InvalidInputError: errors.InvalidInputError,
  ApiError: errors.ApiError,
  AuthenticationError: errors.AuthenticationError,
  NotFoundError: errors.NotFoundError,
  InvalidRequestError: errors.InvalidRequestError,
  AlreadyRefundedError: errors.AlreadyRefundedError,
  IdempotencyConflictError: errors.IdempotencyConflictError,
  IdempotencyMismatchError: errors.IdempotencyMismatchError,
  RateLimitError: errors.RateLimitError,
  ServerError: errors.ServerError,
  UnexpectedResponseError: errors.UnexpectedResponseError,
  NetworkError: errors.NetworkError,
  TimeoutError: errors.TimeoutError,
  WebhookVerificationError: errors.WebhookVerificationError,
  AbortError,
};
