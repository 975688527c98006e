//! `RefundError`, the binding's one error type, and its conversion from
//! [`refundkit::Error`]: the only place a core error crosses into FFI types.
//!
//! Kotlin sees it as the sealed `RefundException` (one subclass per
//! variant), Swift as `enum RefundError: Error`. Every variant carries the
//! same fields, so callers can catch the base type and still read the
//! status and idempotency key. No field is called `message` or `cause`:
//! those names belong to `kotlin.Throwable`.
//!
//! The secret key never reaches these fields: the core scrubs it from every
//! text before returning an error.

use std::fmt;

/// The fields every [`RefundError`] variant carries, plus its kind.
///
/// Returned by `RefundError.info()` so that code which caught the base type
/// can read them without matching each variant.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ErrorInfo {
    /// The stable snake_case kind (`not_found`, `server`, ...), as in `tests/vectors/`.
    pub kind: String,
    /// What went wrong: the server's text when it gave one.
    pub detail: String,
    /// The core error's sentence for people (its `Display`): kind, detail,
    /// status, and the advice to retry with the key when the outcome is unknown.
    pub display: String,
    /// For invalid input and configuration: the argument at fault (`checkout_id`, ...).
    pub field_name: Option<String>,
    /// The HTTP status, when the server answered.
    pub status: Option<i32>,
    /// The server's `errorCode`, when it sent one.
    pub error_code: Option<String>,
    /// The server's request id (`x-request-id`), when it sent one.
    pub request_id: Option<String>,
    /// The idempotency key that was sent: retry later with it and the
    /// service never refunds twice.
    pub idempotency_key: Option<String>,
    /// The raw response body (at most 64 KiB), when there was one.
    pub body: Option<String>,
    /// Whether retrying the same request (same key) later may succeed.
    pub retryable: bool,
    /// Whether the refund may have been made although the call failed.
    pub outcome_unknown: bool,
    /// HTTP attempts made (0 when nothing was sent).
    pub attempts: i32,
    /// The server's `Retry-After`, in milliseconds, when it sent one.
    pub retry_after_ms: Option<i64>,
}

/// Declares `RefundError` with one variant per core error kind, every
/// variant holding the same fields, and the conversions to and from
/// [`ErrorInfo`]. A macro only because the field list would otherwise be
/// written out fifteen times.
macro_rules! refund_error {
    ($( $(#[doc = $doc:literal])* $variant:ident = $kind:literal; )+) => {
        /// A refundkit failure. The variant says what went wrong; every
        /// variant has the same fields (see [`ErrorInfo`]).
        #[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
        #[uniffi::export(Display)]
        pub enum RefundError {
            $(
                $(#[doc = $doc])*
                $variant {
                    /// What went wrong: the server's text when it gave one.
                    detail: String,
                    /// The core error's sentence for people (`toString`/`description`).
                    display: String,
                    /// For invalid input and configuration: the argument at fault.
                    field_name: Option<String>,
                    /// The HTTP status, when the server answered.
                    status: Option<i32>,
                    /// The server's `errorCode`, when it sent one.
                    error_code: Option<String>,
                    /// The server's request id, when it sent one.
                    request_id: Option<String>,
                    /// The idempotency key that was sent: retry later with it.
                    idempotency_key: Option<String>,
                    /// The raw response body (at most 64 KiB), when there was one.
                    body: Option<String>,
                    /// Whether retrying the same request (same key) later may succeed.
                    retryable: bool,
                    /// Whether the refund may have been made although the call failed.
                    outcome_unknown: bool,
                    /// HTTP attempts made (0 when nothing was sent).
                    attempts: i32,
                    /// The server's `Retry-After`, in milliseconds, when it sent one.
                    retry_after_ms: Option<i64>,
                },
            )+
        }

        impl RefundError {
            /// The variant named by `info.kind`; unknown kinds become `Internal`.
            fn from_info(info: ErrorInfo) -> Self {
                let ErrorInfo {
                    kind,
                    detail,
                    display,
                    field_name,
                    status,
                    error_code,
                    request_id,
                    idempotency_key,
                    body,
                    retryable,
                    outcome_unknown,
                    attempts,
                    retry_after_ms,
                } = info;
                match kind.as_str() {
                    $(
                        $kind => Self::$variant {
                            detail, display, field_name, status, error_code, request_id, idempotency_key,
                            body, retryable, outcome_unknown, attempts, retry_after_ms,
                        },
                    )+
                    _ => Self::Internal {
                        detail, display, field_name, status, error_code, request_id, idempotency_key,
                        body, retryable, outcome_unknown, attempts, retry_after_ms,
                    },
                }
            }

            fn to_info(&self) -> ErrorInfo {
                match self {
                    $(
                        Self::$variant {
                            detail, display, field_name, status, error_code, request_id, idempotency_key,
                            body, retryable, outcome_unknown, attempts, retry_after_ms,
                        } => ErrorInfo {
                            kind: $kind.to_owned(),
                            detail: detail.clone(),
                            display: display.clone(),
                            field_name: field_name.clone(),
                            status: *status,
                            error_code: error_code.clone(),
                            request_id: request_id.clone(),
                            idempotency_key: idempotency_key.clone(),
                            body: body.clone(),
                            retryable: *retryable,
                            outcome_unknown: *outcome_unknown,
                            attempts: *attempts,
                            retry_after_ms: *retry_after_ms,
                        },
                    )+
                }
            }
        }
    };
}

refund_error! {
    /// The client was built with a bad secret key, base URL or limit.
    Configuration = "configuration";
    /// An argument failed validation; nothing was sent.
    InvalidInput = "invalid_input";
    /// 401/403: the secret key is missing or wrong.
    Authentication = "authentication";
    /// 404: the checkout does not exist (for this key).
    NotFound = "not_found";
    /// 400: the refund was refused (validation or a declined refund).
    InvalidRequest = "invalid_request";
    /// 400: the payment has already been refunded in full.
    AlreadyRefunded = "already_refunded";
    /// 409: a request with the same idempotency key is still in flight.
    IdempotencyConflict = "idempotency_conflict";
    /// 422: the idempotency key was used before for a different request.
    IdempotencyMismatch = "idempotency_mismatch";
    /// 429: too many requests.
    RateLimited = "rate_limited";
    /// 5xx: the service failed.
    Server = "server";
    /// No HTTP answer: connection refused, reset, TLS or DNS failure.
    Network = "network";
    /// No HTTP answer in time (per attempt or in total).
    Timeout = "timeout";
    /// An answer that is not what the API documents.
    UnexpectedResponse = "unexpected_response";
    /// A webhook failed signature, timestamp or format checks.
    WebhookVerification = "webhook_verification";
    /// A fault inside this library (a bug); nothing is known about the refund.
    Internal = "internal";
}

#[uniffi::export]
impl RefundError {
    /// The stable snake_case kind (`not_found`, `server`, ...).
    pub fn kind(&self) -> String {
        self.to_info().kind
    }

    /// Every field of this error, whatever the variant.
    pub fn info(&self) -> ErrorInfo {
        self.to_info()
    }
}

impl RefundError {
    /// A fault of this library (the runtime could not start, a task died).
    pub(crate) fn internal(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self::from_info(ErrorInfo {
            kind: "internal".to_owned(),
            display: format!("internal error: {detail}"),
            detail,
            field_name: None,
            status: None,
            error_code: None,
            request_id: None,
            idempotency_key: None,
            body: None,
            retryable: false,
            outcome_unknown: false,
            attempts: 0,
            retry_after_ms: None,
        })
    }
}

/// A foreign token provider failed with something other than a
/// `RefundError` (an unexpected exception).
impl From<uniffi::UnexpectedUniFFICallbackError> for RefundError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::internal(format!("the token provider failed: {}", e.reason))
    }
}

impl From<refundkit::Error> for RefundError {
    fn from(e: refundkit::Error) -> Self {
        let millis = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self::from_info(ErrorInfo {
            kind: e.kind().as_str().to_owned(),
            detail: e.message().to_owned(),
            display: e.to_string(),
            field_name: e.field().map(str::to_owned),
            status: e.status().map(i32::from),
            error_code: e.error_code().map(str::to_owned),
            request_id: e.request_id().map(str::to_owned),
            idempotency_key: e.idempotency_key().map(str::to_owned),
            body: e.body().map(str::to_owned),
            retryable: e.is_retryable(),
            outcome_unknown: e.is_outcome_unknown(),
            attempts: i32::try_from(e.attempts()).unwrap_or(i32::MAX),
            retry_after_ms: e.retry_after().map(millis),
        })
    }
}

/// For people: core's own sentence for the error (never the body).
impl fmt::Display for RefundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_info().display)
    }
}

impl std::error::Error for RefundError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_kind_maps_to_its_own_variant() {
        for kind in refundkit::ErrorKind::ALL {
            let e = RefundError::from(refundkit::Error::new(kind, "x"));
            assert_eq!(e.kind(), kind.as_str());
        }
    }

    #[test]
    fn info_round_trips_through_the_variant() {
        let e = RefundError::internal("boom");
        assert_eq!(RefundError::from_info(e.info()), e);
    }

    #[test]
    fn display_is_the_core_errors_own_text() {
        for kind in refundkit::ErrorKind::ALL {
            let core = refundkit::Error::new(kind, "Checkout not found.");
            assert_eq!(
                RefundError::from(core.clone()).to_string(),
                core.to_string()
            );
        }
    }
}
