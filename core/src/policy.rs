//! When to retry, how long to wait, and which idempotency key to send.
//!
//! Pure decisions: the clock, the sleep and the randomness are passed in, so
//! tests are fast and deterministic.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// First backoff delay.
pub const BASE_DELAY: Duration = Duration::from_millis(500);
/// Largest computed backoff delay.
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// Largest `Retry-After` honoured; longer requests end the retries.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// A fresh idempotency key: a UUIDv4 (122 random bits).
pub fn new_idempotency_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The key to send: the caller's, or a fresh one made once per call.
pub fn choose_idempotency_key(callers: Option<&str>) -> String {
    callers.map_or_else(new_idempotency_key, str::to_owned)
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this long, then send the same request with the same key.
    RetryAfter(Duration),
    /// Give up and return the error.
    Stop,
}

/// The retry policy of DESIGN.md: up to `max_retries` retries of
/// connection failures, timeouts, 409, 429 and 5xx; exponential backoff
/// with jitter; `Retry-After` honoured up to 30 s; never past the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
}

impl RetryPolicy {
    /// Decides after attempt number `attempt` (1-based) failed with `error`.
    ///
    /// `remaining` is the time left before the total deadline; `jitter` is a
    /// factor in [0.5, 1] applied to the computed backoff.
    pub fn decide(
        &self,
        error: &Error,
        attempt: u32,
        remaining: Duration,
        jitter: f64,
    ) -> RetryDecision {
        if !error.is_retryable() || attempt > self.max_retries {
            return RetryDecision::Stop;
        }
        let delay = match error.retry_after() {
            Some(after) if after > MAX_RETRY_AFTER => return RetryDecision::Stop,
            Some(after) => after,
            None => backoff(attempt, jitter),
        };
        if delay >= remaining {
            return RetryDecision::Stop;
        }
        RetryDecision::RetryAfter(delay)
    }
}

/// `min(0.5 s * 2^(attempt-1), 5 s) * jitter`, jitter clamped to [0.5, 1].
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(16);
    let raw = BASE_DELAY.saturating_mul(1 << exp).min(MAX_DELAY);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.5, 1.0)
    } else {
        1.0
    };
    raw.mul_f64(jitter)
}

/// Whether a failed call may nonetheless have refunded, given whether any
/// earlier attempt may have reached the server.
pub fn outcome_unknown(final_error: &Error, earlier_attempt_unknown: bool) -> bool {
    final_error.is_outcome_unknown()
        || (earlier_attempt_unknown
            && (final_error.is_retryable() || final_error.kind() == ErrorKind::Timeout))
}

/// Boxed future returned by [`Sleep::sleep`].
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How the client waits between attempts (tokio's timer by default).
pub trait Sleep: Send + Sync {
    /// Waits `duration`.
    fn sleep(&self, duration: Duration) -> SleepFuture;
}

/// How the client draws the backoff jitter factor (uniform in [0.5, 1] by default).
pub trait Jitter: Send + Sync {
    /// A factor in [0.5, 1].
    fn factor(&self) -> f64;
}

/// tokio's timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleep;

impl Sleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Uniform jitter from the thread-local RNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomJitter;

impl Jitter for RandomJitter {
    fn factor(&self) -> f64 {
        rand::Rng::gen_range(&mut rand::thread_rng(), 0.5..=1.0)
    }
}

/// Shared handles to the sleep and jitter sources.
#[derive(Clone)]
pub(crate) struct Timing {
    pub(crate) sleep: Arc<dyn Sleep>,
    pub(crate) jitter: Arc<dyn Jitter>,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            sleep: Arc::new(TokioSleep),
            jitter: Arc::new(RandomJitter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: ErrorKind) -> Error {
        Error::new(kind, "x")
    }

    #[test]
    fn backoff_doubles_then_caps_at_five_seconds() {
        assert_eq!(backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(backoff(2, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(4, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(5, 1.0), Duration::from_secs(5));
        assert_eq!(backoff(40, 1.0), Duration::from_secs(5));
        assert_eq!(backoff(1, 0.5), Duration::from_millis(250));
        assert_eq!(backoff(1, 0.1), Duration::from_millis(250));
    }

    #[test]
    fn retries_only_retryable_kinds() {
        let p = RetryPolicy { max_retries: 2 };
        let lots = Duration::from_secs(60);
        for kind in ErrorKind::ALL {
            let decision = p.decide(&err(kind), 1, lots, 1.0);
            let expect_retry = matches!(
                kind,
                ErrorKind::IdempotencyConflict
                    | ErrorKind::RateLimited
                    | ErrorKind::Server
                    | ErrorKind::Network
                    | ErrorKind::Timeout
            );
            assert_eq!(
                matches!(decision, RetryDecision::RetryAfter(_)),
                expect_retry,
                "{kind}"
            );
        }
    }

    #[test]
    fn stops_after_max_retries() {
        let p = RetryPolicy { max_retries: 2 };
        let lots = Duration::from_secs(60);
        assert!(matches!(
            p.decide(&err(ErrorKind::Server), 2, lots, 1.0),
            RetryDecision::RetryAfter(_)
        ));
        assert_eq!(
            p.decide(&err(ErrorKind::Server), 3, lots, 1.0),
            RetryDecision::Stop
        );
    }

    #[test]
    fn never_sleeps_past_the_deadline() {
        let p = RetryPolicy { max_retries: 5 };
        assert_eq!(
            p.decide(&err(ErrorKind::Server), 1, Duration::from_millis(100), 1.0),
            RetryDecision::Stop
        );
    }

    #[test]
    fn idempotency_keys_are_uuid_v4_and_callers_key_wins() {
        let k = new_idempotency_key();
        assert_eq!(
            uuid::Uuid::parse_str(&k).map(|u| u.get_version_num()).ok(),
            Some(4)
        );
        assert_eq!(choose_idempotency_key(Some("mine")), "mine");
    }
}
