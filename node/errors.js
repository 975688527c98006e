'use strict';
// The errors refundkit throws. Every one carries the same fields, so a
// handler can always find the HTTP status, the server's error code and
// request id, and above all the idempotency key to retry with:
//
//   RefundKitError
//   ├── ConfigurationError          bad secret key, base URL or limit
//   ├── InvalidInputError           bad argument; nothing was sent
//   ├── ApiError                    the service answered with an error
//   │   ├── AuthenticationError     401/403
//   │   ├── NotFoundError           404
//   │   ├── InvalidRequestError     400
//   │   │   └── AlreadyRefundedError
//   │   ├── IdempotencyConflictError   409
//   │   ├── IdempotencyMismatchError   422
//   │   ├── RateLimitError          429
//   │   ├── ServerError             5xx
//   │   └── UnexpectedResponseError an answer the API does not document
//   ├── NetworkError                no HTTP answer
//   │   └── TimeoutError
//   └── WebhookVerificationError
//
// The native module describes a failure as a plain object with a `kind`;
// `fromNative` picks the class from CLASS_BY_KIND. No other logic lives here.

class RefundKitError extends Error {
  constructor(fields) {
    super(fields.display);
    this.name = new.target.name;
    this.kind = fields.kind;
    this.explanation = fields.message;
    this.field = fields.field ?? null;
    this.status = fields.status ?? null;
    this.errorCode = fields.errorCode ?? null;
    this.requestId = fields.requestId ?? null;
    this.idempotencyKey = fields.idempotencyKey ?? null;
    this.body = fields.body ?? null;
    this.retryable = fields.retryable;
    this.outcomeUnknown = fields.outcomeUnknown;
    this.attempts = fields.attempts;
    this.retryAfterMs = fields.retryAfterMs ?? null;
  }
}

class ConfigurationError extends RefundKitError {}
class InvalidInputError extends RefundKitError {}
class ApiError extends RefundKitError {}
class AuthenticationError extends ApiError {}
class NotFoundError extends ApiError {}
class InvalidRequestError extends ApiError {}
class AlreadyRefundedError extends InvalidRequestError {}
class IdempotencyConflictError extends ApiError {}
class IdempotencyMismatchError extends ApiError {}
class RateLimitError extends ApiError {}
class ServerError extends ApiError {}
class UnexpectedResponseError extends ApiError {}
class NetworkError extends RefundKitError {}
class TimeoutError extends NetworkError {}
class WebhookVerificationError extends RefundKitError {}

const CLASS_BY_KIND = Object.freeze({
  configuration: ConfigurationError,
  invalid_input: InvalidInputError,
  authentication: AuthenticationError,
  not_found: NotFoundError,
  invalid_request: InvalidRequestError,
  already_refunded: AlreadyRefundedError,
  idempotency_conflict: IdempotencyConflictError,
  idempotency_mismatch: IdempotencyMismatchError,
  rate_limited: RateLimitError,
  server: ServerError,
  unexpected_response: UnexpectedResponseError,
  network: NetworkError,
  timeout: TimeoutError,
  webhook_verification: WebhookVerificationError,
});

/** The exception for a native error object. */
function fromNative(fields) {
  const ErrorClass = CLASS_BY_KIND[fields.kind] ?? RefundKitError;
  return new ErrorClass(fields);
}

/** Whether `thrown` is a native error object (not yet an exception). */
function isNative(thrown) {
  return typeof thrown === 'object' && thrown !== null && !(thrown instanceof Error)
    && typeof thrown.kind === 'string' && typeof thrown.display === 'string';
}

/**
 * A refund abandoned through its AbortSignal. The request may already have
 * reached the service: retry later with `idempotencyKey` and the service
 * answers for the first request instead of refunding twice.
 */
class AbortError extends Error {
  constructor(idempotencyKey, reason) {
    super(`refund aborted; it may have been made: retry with idempotency key ${idempotencyKey}`,
      { cause: reason });
    this.name = 'AbortError';
    this.code = 'ABORT_ERR';
    this.idempotencyKey = idempotencyKey;
    this.outcomeUnknown = true;
  }
}

module.exports = {
  RefundKitError,
  ConfigurationError,
  InvalidInputError,
  ApiError,
  AuthenticationError,
  NotFoundError,
  InvalidRequestError,
  AlreadyRefundedError,
  IdempotencyConflictError,
  IdempotencyMismatchError,
  RateLimitError,
  ServerError,
  UnexpectedResponseError,
  NetworkError,
  TimeoutError,
  WebhookVerificationError,
  AbortError,
  CLASS_BY_KIND,
  fromNative,
  isNative,
};
