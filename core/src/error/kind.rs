//! [`ErrorKind`]: what went wrong, apart from the error that carries it, so
//! the classification in [`crate::policy`] depends on the kinds alone.

use std::fmt;

/// What went wrong, coarsely enough to decide what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The client was built with a bad secret key, base URL or limit.
    Configuration,
    /// An argument failed validation; nothing was sent.
    InvalidInput,
    /// 401/403: the secret key is missing or wrong.
    Authentication,
    /// 404: the checkout does not exist (for this key).
    NotFound,
    /// 400: the request was refused (validation or a declined refund).
    InvalidRequest,
    /// 400: the payment has already been refunded in full.
    AlreadyRefunded,
    /// 409: a request with the same idempotency key is still in flight.
    IdempotencyConflict,
    /// 422: the idempotency key was used before for a different request.
    IdempotencyMismatch,
    /// 429: too many requests.
    RateLimited,
    /// 5xx: the service failed.
    Server,
    /// No HTTP answer: connection refused, reset, TLS or DNS failure.
    Network,
    /// No HTTP answer in time (per attempt or in total).
    Timeout,
    /// An answer that is not what the API documents (status or body).
    UnexpectedResponse,
    /// A webhook failed signature, timestamp or format checks.
    WebhookVerification,
}

impl ErrorKind {
    /// A stable snake_case name, used in test vectors and bindings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Configuration => "configuration",
            Self::InvalidInput => "invalid_input",
            Self::Authentication => "authentication",
            Self::NotFound => "not_found",
            Self::InvalidRequest => "invalid_request",
            Self::AlreadyRefunded => "already_refunded",
            Self::IdempotencyConflict => "idempotency_conflict",
            Self::IdempotencyMismatch => "idempotency_mismatch",
            Self::RateLimited => "rate_limited",
            Self::Server => "server",
            Self::Network => "network",
            Self::Timeout => "timeout",
            Self::UnexpectedResponse => "unexpected_response",
            Self::WebhookVerification => "webhook_verification",
        }
    }

    /// Every kind, in declaration order (for exhaustive tests in bindings).
    pub const ALL: [ErrorKind; 14] = [
        Self::Configuration,
        Self::InvalidInput,
        Self::Authentication,
        Self::NotFound,
        Self::InvalidRequest,
        Self::AlreadyRefunded,
        Self::IdempotencyConflict,
        Self::IdempotencyMismatch,
        Self::RateLimited,
        Self::Server,
        Self::Network,
        Self::Timeout,
        Self::UnexpectedResponse,
        Self::WebhookVerification,
    ];

    /// The words that open an error's message ("server error: ...").
    pub(crate) fn title(self) -> &'static str {
        match self {
            Self::Configuration => "invalid client configuration",
            Self::InvalidInput => "invalid input",
            Self::Authentication => "authentication failed",
            Self::NotFound => "checkout not found",
            Self::InvalidRequest => "refund refused",
            Self::AlreadyRefunded => "already refunded",
            Self::IdempotencyConflict => "idempotency key in use",
            Self::IdempotencyMismatch => "idempotency key reused for a different request",
            Self::RateLimited => "rate limited",
            Self::Server => "server error",
            Self::Network => "network error",
            Self::Timeout => "timed out",
            Self::UnexpectedResponse => "unexpected response",
            Self::WebhookVerification => "webhook verification failed",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
