//! `Emulator`: the in-process emulator for users' own tests, on this
//! binding's runtime. Type conversion of `refundkit_emulator::TestEmulator`
//! only.
//!
//! Kotlin: `Emulator.start().use { emulator -> ... }` (uniffi objects are
//! `AutoCloseable`); Swift: `let emulator = try Emulator.start()`, stopped
//! when released. Closing stops the server gracefully, so the port is free
//! once `close()` returns.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use refundkit::ErrorKind;
use refundkit_emulator::{Refused, TestEmulator, TEST_WEBHOOK_TIME_SCALE};

use crate::error::RefundError;
use crate::runtime;

fn error(kind: ErrorKind, message: impl Into<String>) -> RefundError {
    refundkit::Error::new(kind, message).into()
}

fn refused(e: Refused) -> RefundError {
    error(ErrorKind::InvalidInput, e.to_string())
}

/// A running emulator of the Checkout API on `127.0.0.1` and a free port,
/// with one live secret key of its own; stopped by `close()`.
#[derive(uniffi::Object)]
#[uniffi::export(Display)]
pub struct Emulator {
    inner: Mutex<Option<TestEmulator>>,
    url: String,
    port: u16,
    secret_key: String,
}

impl fmt::Display for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Emulator({})", self.url)
    }
}

impl Emulator {
    fn with<T>(&self, call: impl FnOnce(&TestEmulator) -> T) -> Result<T, RefundError> {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        guard
            .as_ref()
            .map(call)
            .ok_or_else(|| error(ErrorKind::Configuration, "the emulator is closed"))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let taken = self
            .inner
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(inner) = taken {
            let _ = runtime::block_on(async move {
                inner.shutdown().await;
                Ok(())
            });
        }
    }
}

#[uniffi::export]
impl Emulator {
    /// Starts an emulator. `webhook_time_scale` multiplies the webhook
    /// retry delays (default 0.001: 5 minutes become 0.3 s).
    #[uniffi::constructor(default(webhook_time_scale = None))]
    pub fn start(webhook_time_scale: Option<f64>) -> Result<Arc<Self>, RefundError> {
        let scale = webhook_time_scale.unwrap_or(TEST_WEBHOOK_TIME_SCALE);
        let inner = runtime::block_on(async move {
            TestEmulator::start(scale)
                .await
                .map_err(|e| RefundError::internal(format!("cannot start the emulator: {e}")))
        })?;
        Ok(Arc::new(Self {
            url: inner.url(),
            port: inner.port(),
            secret_key: inner.secret_key().to_owned(),
            inner: Mutex::new(Some(inner)),
        }))
    }

    /// `http://127.0.0.1:PORT`: the client's base URL.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The one key it accepts (`sk_live_…`); any other gets 403.
    pub fn secret_key(&self) -> String {
        self.secret_key.clone()
    }

    /// Creates a live ZAR checkout of `amount` cents (at least 200), pays
    /// it and returns its id. Checkout `metadata`
    /// `{"emulator.refund": "fail"}` makes its refunds fail.
    #[uniffi::method(default(metadata = None))]
    pub fn paid_checkout(
        &self,
        amount: i64,
        metadata: Option<HashMap<String, String>>,
    ) -> Result<String, RefundError> {
        let metadata = metadata.map(|m| m.into_iter().collect::<BTreeMap<_, _>>());
        self.with(|e| e.paid_checkout(amount, metadata))?
            .map_err(refused)
    }

    /// The ledger, oldest first: the refunds actually made, of one
    /// checkout or (`null`/`nil`) of all.
    #[uniffi::method(default(checkout_id = None))]
    pub fn refunds(&self, checkout_id: Option<String>) -> Result<Vec<LedgerRefund>, RefundError> {
        let rows = self.with(|e| e.refunds(checkout_id.as_deref()))?;
        Ok(rows.into_iter().map(LedgerRefund::from).collect())
    }

    /// Replaces the faults of the refund endpoint; `EmulatorFaults()`
    /// clears them. Throws `InvalidInput` for a probability outside 0..1.
    pub fn faults(&self, faults: EmulatorFaults) -> Result<(), RefundError> {
        self.with(|e| e.set_faults(faults.into()))?.map_err(refused)
    }

    /// Registers `url`: every later event is signed and POSTed there, and
    /// logged in `deliveries()` whether or not anything answers.
    #[uniffi::method(default(name = "refundkit tests"))]
    pub fn register_webhook(
        &self,
        url: String,
        name: String,
    ) -> Result<Arc<WebhookSubscription>, RefundError> {
        let sub = self
            .with(|e| e.register_webhook(&name, &url))?
            .map_err(refused)?;
        Ok(Arc::new(WebhookSubscription {
            id: sub.id,
            url: sub.url,
            secret: sub.secret,
        }))
    }

    /// Every webhook delivery attempt so far, oldest first, with the exact
    /// signed headers and body.
    pub fn deliveries(&self) -> Result<Vec<Delivery>, RefundError> {
        let log = self.with(TestEmulator::deliveries)?;
        Ok(log.into_iter().map(Delivery::from).collect())
    }

    /// Blocks until at least `count` attempts of `event_type` (any when
    /// `null`/`nil`) are logged and returns them, oldest first. Throws
    /// `Timeout` after `timeout_ms`.
    #[uniffi::method(default(count = 1, timeout_ms = 10000))]
    pub fn wait_for_deliveries(
        &self,
        event_type: Option<String>,
        count: u32,
        timeout_ms: u64,
    ) -> Result<Vec<Delivery>, RefundError> {
        let wanted = event_type.clone().unwrap_or_else(|| "any type".to_owned());
        let waiting = self.with(|e| {
            e.wait_for_deliveries(
                event_type,
                count as usize,
                Duration::from_millis(timeout_ms),
            )
        })?;
        match runtime::block_on(async move { Ok(waiting.await) })? {
            Some(log) => Ok(log.into_iter().map(Delivery::from).collect()),
            None => Err(error(
                ErrorKind::Timeout,
                format!("fewer than {count} deliveries of {wanted} within {timeout_ms} ms"),
            )),
        }
    }

    /// Forgets every checkout, refund, idempotency key, webhook, delivery
    /// and fault.
    pub fn reset(&self) -> Result<(), RefundError> {
        self.with(TestEmulator::reset)
    }
}

/// Fault probabilities (0 to 1) for the refund endpoint, named as the
/// emulator's faults JSON; unset means 0.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct EmulatorFaults {
    /// Cut the connection before the refund is made.
    #[uniffi(default)]
    pub drop_before: Option<f64>,
    /// Make the refund, then cut the connection: the answer is lost.
    #[uniffi(default)]
    pub drop_after: Option<f64>,
    /// Answer 500 without making the refund.
    #[uniffi(default)]
    pub error_5xx: Option<f64>,
    /// Answer 429 with `Retry-After: retry_after_secs`.
    #[uniffi(default)]
    pub rate_limit: Option<f64>,
    /// The `Retry-After` of a 429, in seconds.
    #[uniffi(default)]
    pub retry_after_secs: Option<u64>,
    /// Wait `delay_ms` before handling the request.
    #[uniffi(default)]
    pub delay: Option<f64>,
    /// How long a delay lasts, in milliseconds.
    #[uniffi(default)]
    pub delay_ms: Option<u64>,
    /// Seed of the fault dice, for a run that repeats exactly.
    #[uniffi(default)]
    pub seed: Option<u64>,
}

impl From<EmulatorFaults> for refundkit_emulator::Faults {
    fn from(f: EmulatorFaults) -> Self {
        Self {
            drop_before: f.drop_before.unwrap_or_default(),
            drop_after: f.drop_after.unwrap_or_default(),
            error_5xx: f.error_5xx.unwrap_or_default(),
            rate_limit: f.rate_limit.unwrap_or_default(),
            retry_after_secs: f.retry_after_secs.unwrap_or_default(),
            delay: f.delay.unwrap_or_default(),
            delay_ms: f.delay_ms.unwrap_or_default(),
            seed: f.seed,
        }
    }
}

/// A refund the emulator actually made (one row of its ledger).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LedgerRefund {
    /// `rfd_…`, as the refund's `refundId`.
    pub refund_id: String,
    /// The checkout refunded.
    pub checkout_id: String,
    /// The checkout's payment (`p_…`).
    pub payment_id: Option<String>,
    /// Cents refunded.
    pub amount: i64,
    /// Always `ZAR`.
    pub currency: String,
    /// `succeeded`, or `failed` for checkouts set up to fail.
    pub status: String,
    /// `live`.
    pub mode: String,
    /// The `Idempotency-Key` it was made with.
    pub idempotency_key: Option<String>,
    /// The refund request's metadata.
    pub metadata: Option<HashMap<String, String>>,
    /// When it was made (ISO 8601, UTC).
    pub created_date: String,
}

impl From<refundkit_emulator::LedgerRefund> for LedgerRefund {
    fn from(r: refundkit_emulator::LedgerRefund) -> Self {
        Self {
            refund_id: r.refund_id,
            checkout_id: r.checkout_id,
            payment_id: r.payment_id,
            amount: r.amount,
            currency: r.currency.to_owned(),
            status: r.status.to_owned(),
            mode: r.mode.to_owned(),
            idempotency_key: r.idempotency_key,
            metadata: r.metadata.map(|m| m.into_iter().collect()),
            created_date: r.created_date,
        }
    }
}

/// One webhook delivery attempt: where, how it ended, and the signed
/// request (`headers`, `body`) to give to `WebhookVerifier.verify`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Delivery {
    /// The event id, also the `webhook-id` header.
    pub webhook_id: String,
    /// The subscription delivered to.
    pub subscription_id: String,
    /// `payment.succeeded`, `refund.succeeded` or `refund.failed`.
    pub event_type: String,
    /// The registered URL.
    pub url: String,
    /// 1 for the first attempt, then 2, 3, …
    pub attempt: u32,
    /// The receiver's status; null when it did not answer.
    pub status: Option<u16>,
    /// Why the attempt failed; null on a 2xx.
    pub error: Option<String>,
    /// The `webhook-timestamp` sent (Unix seconds).
    pub timestamp: i64,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    pub headers: HashMap<String, String>,
    /// The exact body sent.
    pub body: Vec<u8>,
}

impl From<refundkit_emulator::Delivery> for Delivery {
    fn from(d: refundkit_emulator::Delivery) -> Self {
        Self {
            webhook_id: d.webhook_id,
            subscription_id: d.subscription_id,
            event_type: d.event_type.to_owned(),
            url: d.url,
            attempt: u32::try_from(d.attempt).unwrap_or(u32::MAX),
            status: d.status,
            error: d.error,
            timestamp: d.timestamp,
            headers: d.headers.into_iter().collect(),
            body: d.body.to_vec(),
        }
    }
}

/// A webhook subscription; `secret()` is what `WebhookVerifier` needs.
/// Its text form never shows the secret.
#[derive(uniffi::Object)]
#[uniffi::export(Display)]
pub struct WebhookSubscription {
    id: String,
    url: String,
    secret: String,
}

impl fmt::Display for WebhookSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSubscription(id={}, url={})", self.id, self.url)
    }
}

#[uniffi::export]
impl WebhookSubscription {
    /// `sub_…`.
    pub fn id(&self) -> String {
        self.id.clone()
    }

    /// The URL deliveries go to.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// `whsec_…`, the signing secret.
    pub fn secret(&self) -> String {
        self.secret.clone()
    }
}
