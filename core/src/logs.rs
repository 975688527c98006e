//! The refund's logs: one `tracing` span per refund call and one event per
//! attempt, with stable names the bindings forward to each language's own
//! logging (README, "Logs"; ADR 0019).
//!
//! Every event has target `refundkit::logs` and carries all of its fields
//! itself (the span only adds context for Rust subscribers), so a binding
//! forwards an event without looking at spans:
//!
//! | event | level | fields |
//! |---|---|---|
//! | `refund attempt` | DEBUG | `checkout_id`, `idempotency_key`, `attempt`, `outcome`, `status`, `request_id`, `elapsed_ms`, `decision`, `delay_ms` |
//! | `refund outcome unknown` | WARN | `checkout_id`, `idempotency_key`, `attempts`, `outcome`, `status`, `request_id`, `elapsed_ms` |
//!
//! - `outcome`: `refunded`, or the failure's [`crate::ErrorKind`] name (`server`, `timeout`, …).
//! - `status`: the HTTP status, absent when no answer came.
//! - `request_id`: the server's `x-request-id`, absent when it sent none.
//! - `elapsed_ms`: this attempt's time (the whole call's for the warning).
//! - `decision`: `done` (success), `retry` (after `delay_ms`),
//!   `refresh_token` (token mode after a 401: the attempt is repeated with a
//!   fresh token) or `stop` (the error is returned).
//!
//! The secret key and tokens never appear: the server's text (request id)
//! is scrubbed of every credential the call used, as errors are, and the
//! credentials themselves are never a field. Values are computed only when
//! a subscriber wants the event.

use std::time::Duration;

use crate::redact;

/// The target of every refundkit log event.
pub const TARGET: &str = "refundkit::logs";

/// What the client does after an attempt, as logged in `decision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The attempt succeeded.
    Done,
    /// The same request is sent again after this delay.
    Retry(Duration),
    /// Token mode: a fresh token is fetched and the attempt repeated.
    RefreshToken,
    /// The error is returned to the caller.
    Stop,
}

impl Decision {
    fn name(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Retry(_) => "retry",
            Self::RefreshToken => "refresh_token",
            Self::Stop => "stop",
        }
    }
    fn delay_ms(self) -> Option<u64> {
        match self {
            Self::Retry(delay) => Some(millis(delay)),
            _ => None,
        }
    }
}

/// How an attempt ended, as far as the logs tell.
pub(crate) struct Answer<'a> {
    /// `refunded` or the error kind's name.
    pub outcome: &'static str,
    pub status: Option<u16>,
    pub request_id: Option<&'a str>,
}

/// The call a log event belongs to. Every method takes the credentials
/// the call has used so far, to scrub from the logged text.
pub(crate) struct CallLog<'a> {
    pub checkout_id: &'a str,
    pub idempotency_key: &'a str,
}

impl CallLog<'_> {
    /// The span of the whole call (DEBUG: no cost unless wanted).
    pub(crate) fn span(&self, secrets: &[&str]) -> tracing::Span {
        tracing::debug_span!(
            target: TARGET,
            "refund",
            checkout_id = %scrubbed(secrets, Some(self.checkout_id)).unwrap_or_default(),
            idempotency_key = %scrubbed(secrets, Some(self.idempotency_key)).unwrap_or_default(),
        )
    }

    /// One event per attempt.
    pub(crate) fn attempt(
        &self,
        secrets: &[&str],
        attempt: u32,
        answer: &Answer<'_>,
        elapsed: Duration,
        decision: Decision,
    ) {
        tracing::debug!(
            target: TARGET,
            checkout_id = %scrubbed(secrets, Some(self.checkout_id)).unwrap_or_default(),
            idempotency_key = %scrubbed(secrets, Some(self.idempotency_key)).unwrap_or_default(),
            attempt,
            outcome = answer.outcome,
            status = answer.status,
            request_id = scrubbed(secrets, answer.request_id).as_deref(),
            elapsed_ms = millis(elapsed),
            decision = decision.name(),
            delay_ms = decision.delay_ms(),
            "refund attempt"
        );
    }

    /// The warning of a call that failed without knowing whether the
    /// refund was made.
    pub(crate) fn outcome_unknown(
        &self,
        secrets: &[&str],
        attempts: u32,
        answer: &Answer<'_>,
        elapsed: Duration,
    ) {
        tracing::warn!(
            target: TARGET,
            checkout_id = %scrubbed(secrets, Some(self.checkout_id)).unwrap_or_default(),
            idempotency_key = %scrubbed(secrets, Some(self.idempotency_key)).unwrap_or_default(),
            attempts,
            outcome = answer.outcome,
            status = answer.status,
            request_id = scrubbed(secrets, answer.request_id).as_deref(),
            elapsed_ms = millis(elapsed),
            "refund outcome unknown: retry later with the same idempotency key"
        );
    }
}

/// `text` with every one of `secrets` masked.
fn scrubbed(secrets: &[&str], text: Option<&str>) -> Option<String> {
    let mut text = text?.to_owned();
    for secret in secrets {
        redact::scrub_text(&mut text, secret);
    }
    Some(text)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
