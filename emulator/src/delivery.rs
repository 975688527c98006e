//! Webhook delivery: signed POSTs to the registered URLs, retried on the
//! API's schedule, each attempt logged.
//!
//! This module knows nothing of the emulator's state: [`deliver`] gets the
//! [`Deliverer`], the subscription, the event and a "still registered?"
//! check, so the state (`app`) depends on delivery and never the reverse.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::clock;
use crate::lifecycle;
use crate::sharded::lock;
use crate::webhooks::Subscription;

/// Delays before each retry: attempt 1 is immediate, then these, in order
/// (before scaling by `webhook_time_scale`).
pub(crate) const RETRY_DELAYS: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];
/// Time a receiver has to answer 2xx.
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// Attempts kept in the delivery log; older ones are forgotten **\[ours\]**.
pub(crate) const MAX_LOGGED: usize = 10_000;

/// An event ready to send: its id (also the `webhook-id`) and exact body.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) id: String,
    pub(crate) event_type: &'static str,
    pub(crate) body: Bytes,
}

impl Event {
    /// Wraps `payload` in the envelope `{"id", "type", "createdDate", "payload"}`.
    pub(crate) fn new(event_type: &'static str, payload: Value) -> Self {
        let id = crate::ids::event();
        let envelope = json!({
            "id": id,
            "type": event_type,
            "createdDate": clock::iso8601(SystemTime::now()),
            "payload": payload,
        });
        Self {
            id,
            event_type,
            body: Bytes::from(serde_json::to_vec(&envelope).unwrap_or_default()),
        }
    }
}

/// One delivery attempt, as logged: where it went, how it ended, and the
/// signed request itself (headers and exact body), so a test can verify it
/// with `refundkit::WebhookVerifier` whether or not a receiver answered.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// The event id, also the `webhook-id` header.
    pub webhook_id: String,
    /// The subscription delivered to (`sub_…`).
    pub subscription_id: String,
    /// `payment.succeeded`, `refund.succeeded` or `refund.failed`.
    pub event_type: &'static str,
    /// The registered URL.
    pub url: String,
    /// 1 for the first attempt, then 2, 3, …
    pub attempt: usize,
    /// The receiver's status; `None` when it did not answer.
    pub status: Option<u16>,
    /// Why the attempt failed; `None` on a 2xx.
    pub error: Option<String>,
    /// The `webhook-timestamp` sent (Unix seconds).
    pub timestamp: i64,
    /// The headers signed for this attempt: `webhook-id`,
    /// `webhook-timestamp`, `webhook-signature`. Not in the control JSON.
    #[serde(skip)]
    pub headers: Vec<(String, String)>,
    /// The exact body sent. Not in the control JSON.
    #[serde(skip)]
    pub body: Bytes,
}

/// The HTTP client that delivers, the attempt log, and how many deliveries
/// are waiting for a later attempt.
pub(crate) struct Deliverer {
    http: reqwest::Client,
    time_scale: f64,
    log: Mutex<VecDeque<Delivery>>,
    waiting: AtomicU64,
}

impl Deliverer {
    pub(crate) fn new(time_scale: f64) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(ATTEMPT_TIMEOUT)
            .user_agent(concat!("refundkit-emulator/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let time_scale = if time_scale.is_finite() && time_scale >= 0.0 {
            time_scale
        } else {
            1.0
        };
        Self {
            http,
            time_scale,
            log: Mutex::new(VecDeque::new()),
            waiting: AtomicU64::new(0),
        }
    }

    /// The delay before attempt `attempt` (1-based), scaled. A product too
    /// large for a `Duration` (a scale of 1e19) saturates instead of
    /// panicking, so the delivery just waits "forever".
    fn delay_before(&self, attempt: usize) -> Duration {
        match attempt.checked_sub(2).and_then(|i| RETRY_DELAYS.get(i)) {
            Some(d) => Duration::try_from_secs_f64(d.as_secs_f64() * self.time_scale)
                .unwrap_or(Duration::MAX),
            None => Duration::ZERO,
        }
    }

    /// Deliveries now waiting for their next attempt.
    pub(crate) fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Sleeps `delay`, counted in [`Deliverer::waiting`] meanwhile (also
    /// when the sleep is cut short by a reset or stop).
    async fn wait(&self, delay: Duration) {
        struct Waiting<'a>(&'a AtomicU64);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        tokio::time::sleep(delay).await;
    }

    /// The log, oldest first.
    pub(crate) fn log(&self) -> Vec<Delivery> {
        lock(&self.log).iter().cloned().collect()
    }

    pub(crate) fn clear_log(&self) {
        lock(&self.log).clear();
    }

    fn record(&self, attempt: Delivery) {
        let mut log = lock(&self.log);
        if log.len() >= MAX_LOGGED {
            log.pop_front();
        }
        log.push_back(attempt);
    }

    /// One signed POST; `Ok` on 2xx. Never follows redirects, so only the
    /// registered URL is ever contacted.
    async fn attempt(&self, sub: &Subscription, event: &Event, number: usize) -> bool {
        let timestamp = clock::unix_seconds(SystemTime::now());
        let mut request = self
            .http
            .post(&sub.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(event.body.clone());
        let headers = sub.signer.headers(&event.id, timestamp, &event.body);
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        let (status, error) = match request.send().await {
            Ok(response) => {
                let status = response.status();
                // Read the body so the connection can be reused.
                let _ = response.bytes().await;
                let error = (!status.is_success()).then(|| format!("receiver answered {status}"));
                (Some(status.as_u16()), error)
            }
            Err(e) if e.is_timeout() => (
                None,
                Some(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())),
            ),
            Err(e) => (None, Some(error_chain(&e))),
        };
        let ok = error.is_none();
        self.record(Delivery {
            webhook_id: event.id.clone(),
            subscription_id: sub.id.clone(),
            event_type: event.event_type,
            url: sub.url.clone(),
            attempt: number,
            status,
            error,
            timestamp,
            headers: headers.map(|(name, value)| (name.to_owned(), value)).into(),
            body: event.body.clone(),
        });
        ok
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Delivers `event` to `sub` until a 2xx, the schedule runs out,
/// `still_registered` says no (the subscription was deleted), or the
/// generation ends (reset or stop).
pub(crate) async fn deliver(
    deliverer: Arc<Deliverer>,
    sub: Arc<Subscription>,
    event: Arc<Event>,
    still_registered: impl Fn() -> bool,
    mut lifecycle_rx: watch::Receiver<u64>,
    generation: u64,
) {
    let attempts = async {
        for number in 1..=RETRY_DELAYS.len() + 1 {
            let delay = deliverer.delay_before(number);
            if !delay.is_zero() {
                deliverer.wait(delay).await;
            }
            if !still_registered() {
                return;
            }
            if deliverer.attempt(&sub, &event, number).await {
                return;
            }
        }
    };
    tokio::select! {
        () = attempts => {}
        () = lifecycle::superseded(&mut lifecycle_rx, generation) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_follow_the_schedule_times_the_scale() {
        let deliverer = Deliverer::new(0.001);
        assert_eq!(deliverer.delay_before(1), Duration::ZERO);
        assert_eq!(deliverer.delay_before(2), Duration::ZERO);
        assert_eq!(deliverer.delay_before(3), Duration::from_millis(5));
        assert_eq!(deliverer.delay_before(10), Duration::ZERO);
    }

    #[test]
    fn a_huge_scale_saturates_instead_of_panicking() {
        for scale in [1e19, 1e300, f64::MAX] {
            let deliverer = Deliverer::new(scale);
            for attempt in 1..=RETRY_DELAYS.len() + 1 {
                let delay = deliverer.delay_before(attempt);
                assert!(attempt <= 2 || delay == Duration::MAX, "{scale} {attempt}");
            }
        }
    }

    #[test]
    fn a_scale_that_is_not_a_finite_non_negative_number_counts_as_one() {
        for scale in [f64::NAN, f64::INFINITY, -1.0] {
            let deliverer = Deliverer::new(scale);
            assert_eq!(deliverer.delay_before(3), Duration::from_secs(5), "{scale}");
        }
    }
}
