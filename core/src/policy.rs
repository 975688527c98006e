//! When to retry, how long to wait, which idempotency key to send, and the
//! one classification of failures: which are worth retrying and which leave
//! the refund's outcome unknown.
//!
//! Pure decisions: the clock, the sleep and the randomness are passed in, so
//! tests are fast and deterministic.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};

pub use crate::defaults::{BASE_DELAY, MAX_DELAY, MAX_RETRY_AFTER};
pub use classify::{is_retryable, leaves_outcome_unknown, Delivery};

pub(crate) mod classify;

/// A fresh idempotency key: a UUIDv4 (122 random bits).
///
/// The bits come from `rand`'s thread-local CSPRNG (ChaCha, seeded and
/// reseeded from the operating system), not one `getrandom` system call
/// per key as `Uuid::new_v4` makes: a system call was a measurable share
/// of a refund's client-side cost.
pub fn new_idempotency_key() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
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
        // `Retry-After` may lengthen the wait, never shorten it: a server
        // saying `0` does not turn the retries into a burst.
        let delay = match error.retry_after() {
            Some(after) if after > MAX_RETRY_AFTER => return RetryDecision::Stop,
            Some(after) => after.max(backoff(attempt, jitter)),
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
/// earlier attempt may have: a definite answer to the same key settles it
/// (the service would have replayed a refund it made). A failure worth
/// retrying does not, and neither does an authentication failure: it is
/// decided before the key is looked at (and in token mode an earlier
/// attempt may have carried a token that was still valid).
pub fn outcome_unknown(final_error: &Error, earlier_attempt_unknown: bool) -> bool {
    final_error.is_outcome_unknown()
        || (earlier_attempt_unknown
            && (final_error.is_retryable() || final_error.kind() == ErrorKind::Authentication))
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

/// The clock the total deadline is measured on: a monotonic time since an
/// arbitrary origin (the process's first call by default).
pub trait Clock: Send + Sync {
    /// Time since this clock's origin; never goes backwards.
    fn now(&self) -> Duration;
}

/// The monotonic system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed()
    }
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

/// Shared handles to the sleep, jitter and clock sources.
#[derive(Clone)]
pub(crate) struct Timing {
    pub(crate) sleep: Arc<dyn Sleep>,
    pub(crate) jitter: Arc<dyn Jitter>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            sleep: Arc::new(TokioSleep),
            jitter: Arc::new(RandomJitter),
            clock: Arc::new(MonotonicClock),
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
            assert_eq!(
                matches!(decision, RetryDecision::RetryAfter(_)),
                is_retryable(kind),
                "{kind}"
            );
        }
    }

    #[test]
    fn the_retryable_kinds_are_exactly_the_documented_ones() {
        let retryable: Vec<_> = ErrorKind::ALL
            .into_iter()
            .filter(|k| is_retryable(*k))
            .collect();
        assert_eq!(
            retryable,
            [
                ErrorKind::IdempotencyConflict,
                ErrorKind::RateLimited,
                ErrorKind::Server,
                ErrorKind::Network,
                ErrorKind::Timeout
            ]
        );
    }

    #[test]
    fn only_a_request_that_may_have_been_sent_leaves_a_network_outcome_unknown() {
        for kind in [ErrorKind::Network, ErrorKind::Timeout] {
            assert!(leaves_outcome_unknown(kind, Delivery::MaybeSent));
            assert!(!leaves_outcome_unknown(kind, Delivery::NotSent));
        }
        for kind in [
            ErrorKind::Server,
            ErrorKind::IdempotencyConflict,
            ErrorKind::UnexpectedResponse,
        ] {
            assert!(leaves_outcome_unknown(kind, Delivery::MaybeSent), "{kind}");
        }
        for kind in [
            ErrorKind::InvalidRequest,
            ErrorKind::RateLimited,
            ErrorKind::NotFound,
        ] {
            assert!(!leaves_outcome_unknown(kind, Delivery::MaybeSent), "{kind}");
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
    fn a_short_retry_after_never_goes_below_the_backoff() {
        let p = RetryPolicy { max_retries: 5 };
        let lots = Duration::from_secs(60);
        for (after, attempt, expect) in [(0, 1, 500), (0, 3, 2000), (1, 1, 1000), (3, 2, 3000)] {
            let e = err(ErrorKind::RateLimited).with_retry_after(Some(Duration::from_secs(after)));
            assert_eq!(
                p.decide(&e, attempt, lots, 1.0),
                RetryDecision::RetryAfter(Duration::from_millis(expect)),
                "Retry-After {after} after attempt {attempt}"
            );
        }
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
    fn idempotency_keys_are_distinct_rfc_4122_uuid_v4() {
        let keys: std::collections::HashSet<String> =
            (0..10_000).map(|_| new_idempotency_key()).collect();
        assert_eq!(keys.len(), 10_000);
        for k in &keys {
            let u = uuid::Uuid::parse_str(k).expect("a UUID");
            assert_eq!(u.get_version_num(), 4, "{k}");
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122, "{k}");
            assert_eq!(k, &u.hyphenated().to_string(), "lowercase, hyphenated");
        }
    }
}
