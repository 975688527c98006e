//! Fault injection on the refund endpoint: dropped connections, 429s, 500s
//! and delays, drawn from a seeded RNG so that a run can be reproduced.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};

use crate::sharded::lock;

/// Fault probabilities for `POST /api/checkouts/{id}/refund` (other
/// endpoints are never faulted). Each probability is in `0.0..=1.0`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Cut the connection without processing the request.
    pub drop_before: f64,
    /// Answer 429 with `Retry-After: retry_after_secs` without processing
    /// the request **\[ours\]**.
    pub rate_limit: f64,
    /// The `Retry-After` of a rate-limited answer, in seconds.
    pub retry_after_secs: u64,
    /// Handle the request completely (a refund and its idempotency record
    /// are committed), then cut the connection instead of answering; this
    /// loses any answer, replays and errors included.
    pub drop_after: f64,
    /// Answer 500 without processing the request.
    pub error_5xx: f64,
    /// Sleep `delay_ms` before processing.
    pub delay: f64,
    /// How long a delay lasts, in milliseconds.
    pub delay_ms: u64,
    /// Seed of the fault RNG; `None` seeds from entropy.
    pub seed: Option<u64>,
}

/// Longest injectable delay **\[ours\]**.
const MAX_DELAY_MS: u64 = 10 * 60 * 1000;
/// Longest injectable `Retry-After` **\[ours\]**.
const MAX_RETRY_AFTER_SECS: u64 = 24 * 60 * 60;

impl Faults {
    /// Checks that every probability is in `0.0..=1.0`, the delay is at
    /// most ten minutes and the `Retry-After` at most a day.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            ("drop_before", self.drop_before),
            ("rate_limit", self.rate_limit),
            ("drop_after", self.drop_after),
            ("error_5xx", self.error_5xx),
            ("delay", self.delay),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} must be a probability between 0 and 1"));
            }
        }
        if self.delay_ms > MAX_DELAY_MS {
            return Err(format!("delay_ms must be at most {MAX_DELAY_MS}"));
        }
        if self.retry_after_secs > MAX_RETRY_AFTER_SECS {
            return Err(format!(
                "retry_after_secs must be at most {MAX_RETRY_AFTER_SECS}"
            ));
        }
        Ok(())
    }

    fn any(&self) -> bool {
        self.drop_before > 0.0
            || self.rate_limit > 0.0
            || self.drop_after > 0.0
            || self.error_5xx > 0.0
            || self.delay > 0.0
    }
}

impl Faults {
    /// Parses the faults JSON object (the `PUT /_emulator/faults` body) and
    /// validates it. Unknown names are refused, naming the known ones.
    pub fn from_json(json: &[u8]) -> Result<Faults, String> {
        let faults = match serde_json::from_slice::<serde_json::Value>(json) {
            Ok(v @ serde_json::Value::Object(_)) => {
                serde_json::from_value::<Faults>(v).map_err(|e| e.to_string())?
            }
            Ok(_) => return Err("the faults must be a JSON object".to_owned()),
            Err(e) => return Err(e.to_string()),
        };
        faults.validate()?;
        Ok(faults)
    }
}

/// What to do to one refund request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FaultPlan {
    pub(crate) drop_before: bool,
    /// Answer 429 with this `Retry-After`, in seconds.
    pub(crate) rate_limit: Option<u64>,
    pub(crate) error_5xx: bool,
    pub(crate) delay: Option<Duration>,
    pub(crate) drop_after: bool,
}

/// The current faults and their RNG.
pub(crate) struct FaultInjector {
    active: AtomicBool,
    state: Mutex<(Faults, StdRng)>,
}

impl FaultInjector {
    pub(crate) fn new(faults: Faults) -> Self {
        let injector = Self {
            active: AtomicBool::new(false),
            state: Mutex::new((Faults::default(), StdRng::seed_from_u64(0))),
        };
        injector.set(faults);
        injector
    }

    /// Replaces the faults and reseeds the RNG (from `seed`, or entropy).
    pub(crate) fn set(&self, faults: Faults) {
        let rng = match faults.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let mut state = lock(&self.state);
        self.active.store(faults.any(), Ordering::Release);
        *state = (faults, rng);
    }

    /// The current faults.
    pub(crate) fn get(&self) -> Faults {
        lock(&self.state).0.clone()
    }

    /// Draws the faults for one request. Always draws five numbers, so a
    /// seeded sequence of requests sees the same faults on every run.
    pub(crate) fn roll(&self) -> FaultPlan {
        if !self.active.load(Ordering::Acquire) {
            return FaultPlan::default();
        }
        let mut state = lock(&self.state);
        let (faults, rng) = &mut *state;
        let draws: [f64; 5] = [rng.gen(), rng.gen(), rng.gen(), rng.gen(), rng.gen()];
        let drop_before = draws[0] < faults.drop_before;
        let rate_limit = !drop_before && draws[1] < faults.rate_limit;
        let error_5xx = !drop_before && !rate_limit && draws[2] < faults.error_5xx;
        let skipped = drop_before || rate_limit || error_5xx;
        FaultPlan {
            drop_before,
            rate_limit: rate_limit.then_some(faults.retry_after_secs),
            error_5xx,
            delay: (!skipped && draws[3] < faults.delay)
                .then(|| Duration::from_millis(faults.delay_ms)),
            drop_after: !skipped && draws[4] < faults.drop_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_plans_repeat() {
        let faults = Faults {
            drop_before: 0.2,
            rate_limit: 0.2,
            retry_after_secs: 1,
            drop_after: 0.2,
            error_5xx: 0.2,
            delay: 0.2,
            delay_ms: 1,
            seed: Some(7),
        };
        let run = || {
            let f = FaultInjector::new(faults.clone());
            (0..100).map(|_| f.roll()).collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        assert!(first.iter().any(|p| p.drop_before) && first.iter().any(|p| p.error_5xx));
        assert!(first.iter().any(|p| p.rate_limit == Some(1)));
    }

    #[test]
    fn probabilities_outside_zero_to_one_are_refused() {
        let f = Faults {
            error_5xx: 1.5,
            ..Faults::default()
        };
        assert!(f.validate().is_err());
        let f = Faults {
            delay: f64::NAN,
            ..Faults::default()
        };
        assert!(f.validate().is_err());
        let f = Faults {
            rate_limit: -0.1,
            ..Faults::default()
        };
        assert!(f.validate().is_err());
        let f = Faults {
            retry_after_secs: MAX_RETRY_AFTER_SECS + 1,
            ..Faults::default()
        };
        assert!(f.validate().is_err());
    }
}
