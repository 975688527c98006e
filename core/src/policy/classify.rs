//! The one classification of failures: which kinds are worth retrying and
//! which leave the refund's outcome unknown (ADR 0003). It depends on the
//! kinds alone, so [`crate::error::Error`] can use it without a cycle.

use crate::error::kind::ErrorKind;

/// Whether a request may have reached the service before it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Certainly not: nothing was sent, or the connection was never made.
    NotSent,
    /// Perhaps: the request was (or may have been) written.
    MaybeSent,
}

/// Whether sending the same request (same key) again may succeed:
/// connection failures, timeouts, 409, 429 and 5xx. Never 400/401/403/404/422,
/// bad input, configuration, unexpected answers or webhook failures.
pub fn is_retryable(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::IdempotencyConflict
            | ErrorKind::RateLimited
            | ErrorKind::Server
            | ErrorKind::Network
            | ErrorKind::Timeout
    )
}

/// Whether a failure of `kind` leaves open that the refund was made
/// (ADR 0003): 5xx (the service may have committed first), 409 (another
/// request with the key is in flight), an unexpected answer (a 2xx we could
/// not read, an oversized body), and a network failure or timeout once the
/// request may have been sent.
pub fn leaves_outcome_unknown(kind: ErrorKind, delivery: Delivery) -> bool {
    match kind {
        ErrorKind::Server | ErrorKind::IdempotencyConflict | ErrorKind::UnexpectedResponse => true,
        ErrorKind::Network | ErrorKind::Timeout => delivery == Delivery::MaybeSent,
        _ => false,
    }
}
