//! The per-subject rate limit: a token bucket per subject holding
//! `rate_per_minute` requests and refilling at that rate, so a burst of a
//! minute's allowance is accepted and the rest is spread out.
//!
//! Buckets live in this process's memory: each relay limits on its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before idle ones are dropped.
const PRUNE_AT: usize = 10_000;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets keyed by subject.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// Takes one request from `subject`'s bucket of `per_minute`, or says
    /// how long until one is free.
    pub fn take(&self, subject: &str, per_minute: u32, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(per_minute.max(1));
        let per_second = capacity / 60.0;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= PRUNE_AT {
            // A bucket idle for a minute is full again: forgetting it is exact.
            buckets
                .retain(|_, b| now.saturating_duration_since(b.updated) < Duration::from_secs(60));
        }
        let bucket = buckets.entry(subject.to_owned()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minutes_allowance_then_waits_for_the_refill() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take("u1", 3, t0).is_ok());
        }
        let wait = limiter.take("u1", 3, t0).expect_err("empty");
        assert_eq!(wait.as_secs(), 20, "one request per 20 s at 3/min");
        assert!(limiter.take("u2", 3, t0).is_ok(), "subjects are separate");
        assert!(limiter.take("u1", 3, t0 + Duration::from_secs(20)).is_ok());
    }
}
