//! The one place a core [`refundkit::Error`] becomes something JavaScript
//! sees.
//!
//! An error crosses as a plain object ([`NativeError`]: the kind and every
//! field); `node/errors.js` maps the kind to its `RefundKitError` subclass
//! with a table. Core errors never contain the secret key, so nothing is
//! scrubbed here.

use napi::{Env, Status};
use napi_derive::napi;

/// A core error as data: what `errors.js` needs to build the exception.
#[napi(object, use_nullable = true)]
pub struct NativeError {
    /// `ErrorKind::as_str`, e.g. `not_found`.
    pub kind: String,
    /// The explanation alone (the server's message when it gave one).
    pub message: String,
    /// The full sentence for people (`Display`).
    pub display: String,
    /// For invalid input and configuration: the argument at fault.
    pub field: Option<String>,
    /// The HTTP status, when the service answered.
    pub status: Option<u32>,
    /// The service's `errorCode`.
    pub error_code: Option<String>,
    /// The service's request id (`x-request-id`).
    pub request_id: Option<String>,
    /// The idempotency key the call sent.
    pub idempotency_key: Option<String>,
    /// The raw response body.
    pub body: Option<String>,
    /// Whether the same request (same key) may succeed later.
    pub retryable: bool,
    /// Whether the refund may have been made although the call failed.
    pub outcome_unknown: bool,
    /// HTTP attempts made.
    pub attempts: u32,
    /// The service's `Retry-After`, in milliseconds.
    pub retry_after_ms: Option<f64>,
}

impl From<&refundkit::Error> for NativeError {
    fn from(error: &refundkit::Error) -> Self {
        Self {
            kind: error.kind().as_str().to_owned(),
            message: error.message().to_owned(),
            display: error.to_string(),
            field: error.field().map(str::to_owned),
            status: error.status().map(u32::from),
            error_code: error.error_code().map(str::to_owned),
            request_id: error.request_id().map(str::to_owned),
            idempotency_key: error.idempotency_key().map(str::to_owned),
            body: error.body().map(str::to_owned),
            retryable: error.is_retryable(),
            outcome_unknown: error.is_outcome_unknown(),
            attempts: error.attempts(),
            retry_after_ms: error.retry_after().map(|d| d.as_secs_f64() * 1000.0),
        }
    }
}

/// Throws `error` as a [`NativeError`] object from a synchronous call; the
/// returned `napi::Error` tells napi that an exception is already pending.
pub fn throw(env: &Env, error: &refundkit::Error) -> napi::Error {
    match env.throw(NativeError::from(error)) {
        Ok(()) => napi::Error::new(Status::PendingException, String::new()),
        // Could not even throw: let napi throw the text instead.
        Err(_) => napi::Error::new(Status::GenericFailure, error.to_string()),
    }
}
