//! Request counters, so tests can assert what reached the emulator
//! (for instance "zero refund requests" after a validation error).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde_json::{json, Value};

/// One counter per thing worth asserting on.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) requests: AtomicU64,
    pub(crate) refund_requests: AtomicU64,
    pub(crate) refunds_made: AtomicU64,
    pub(crate) idempotent_replays: AtomicU64,
    pub(crate) checkout_requests: AtomicU64,
    pub(crate) webhook_requests: AtomicU64,
    pub(crate) control_requests: AtomicU64,
    pub(crate) dropped_before: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) dropped_after: AtomicU64,
    pub(crate) injected_5xx: AtomicU64,
    pub(crate) delayed: AtomicU64,
}

/// Adds one.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

impl Stats {
    pub(crate) fn to_json(&self) -> Value {
        let get = |c: &AtomicU64| c.load(Relaxed);
        json!({
            "requests": get(&self.requests),
            "refundRequests": get(&self.refund_requests),
            "refundsMade": get(&self.refunds_made),
            "idempotentReplays": get(&self.idempotent_replays),
            "checkoutRequests": get(&self.checkout_requests),
            "webhookRequests": get(&self.webhook_requests),
            "controlRequests": get(&self.control_requests),
            "faults": {
                "dropBefore": get(&self.dropped_before),
                "rateLimit": get(&self.rate_limited),
                "dropAfter": get(&self.dropped_after),
                "error5xx": get(&self.injected_5xx),
                "delay": get(&self.delayed),
            },
        })
    }

    pub(crate) fn clear(&self) {
        for c in [
            &self.requests,
            &self.refund_requests,
            &self.refunds_made,
            &self.idempotent_replays,
            &self.checkout_requests,
            &self.webhook_requests,
            &self.control_requests,
            &self.dropped_before,
            &self.rate_limited,
            &self.dropped_after,
            &self.injected_5xx,
            &self.delayed,
        ] {
            c.store(0, Relaxed);
        }
    }
}
