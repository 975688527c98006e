//! `NativeEmulator`: the in-process emulator behind `startEmulator()`, on
//! the addon's runtime. Type conversion of
//! `refundkit_emulator::TestEmulator` only; `node/index.js` wraps it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use napi::bindgen_prelude::Object;
use napi::{Env, Status};
use napi_derive::napi;
use refundkit_emulator::{Faults, TestEmulator};

use crate::{error, runtime};

fn invalid(message: impl Into<String>) -> napi::Error {
    napi::Error::new(Status::InvalidArg, message.into())
}

/// A refund the emulator actually made (one row of its ledger).
#[napi(object, use_nullable = true)]
pub struct NativeLedgerRefund {
    /// `rfd_…`.
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

impl From<refundkit_emulator::LedgerRefund> for NativeLedgerRefund {
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

/// One webhook delivery attempt. `body` is the exact body sent (always
/// UTF-8 JSON, so the text is lossless); `node/index.js` makes it a Buffer.
#[napi(object, use_nullable = true)]
pub struct NativeDelivery {
    /// The event id, also the `webhook-id` header.
    pub webhook_id: String,
    /// The subscription delivered to.
    pub subscription_id: String,
    /// `payment.succeeded`, `refund.succeeded` or `refund.failed`.
    pub event_type: String,
    /// The URL deliveries go to.
    pub url: String,
    /// 1 for the first attempt, then 2, 3, …
    pub attempt: u32,
    /// The receiver's status; null when it did not answer.
    pub status: Option<u32>,
    /// Why the attempt failed; null on a 2xx.
    pub error: Option<String>,
    /// The `webhook-timestamp` sent (Unix seconds).
    pub timestamp: i64,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    pub headers: HashMap<String, String>,
    /// The exact body sent.
    pub body_text: String,
}

impl From<refundkit_emulator::Delivery> for NativeDelivery {
    fn from(d: refundkit_emulator::Delivery) -> Self {
        Self {
            webhook_id: d.webhook_id,
            subscription_id: d.subscription_id,
            event_type: d.event_type.to_owned(),
            url: d.url,
            attempt: u32::try_from(d.attempt).unwrap_or(u32::MAX),
            status: d.status.map(u32::from),
            error: d.error,
            timestamp: d.timestamp,
            headers: d.headers.into_iter().collect(),
            body_text: String::from_utf8_lossy(&d.body).into_owned(),
        }
    }
}

/// A webhook subscription, with its signing secret.
#[napi(object)]
pub struct NativeWebhookSubscription {
    /// `sub_…`.
    pub id: String,
    /// The URL deliveries go to.
    pub url: String,
    /// `whsec_…`, the signing secret.
    pub secret: String,
}

/// The emulator behind `startEmulator()`.
#[napi]
pub struct NativeEmulator {
    inner: Mutex<Option<TestEmulator>>,
    url: String,
    port: u32,
    secret_key: String,
}

impl NativeEmulator {
    fn with<T>(&self, call: impl FnOnce(&TestEmulator) -> T) -> napi::Result<T> {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        guard
            .as_ref()
            .map(call)
            .ok_or_else(|| napi::Error::new(Status::GenericFailure, "the emulator is closed"))
    }
}

#[napi]
impl NativeEmulator {
    /// Binds a free port on 127.0.0.1 and starts serving (a bind takes
    /// microseconds, so this does not wait on the event loop's time).
    #[napi(constructor)]
    pub fn new(env: &Env, webhook_time_scale: f64) -> napi::Result<Self> {
        let runtime = runtime::runtime().map_err(|e| error::throw(env, &e))?;
        let inner = runtime
            .block_on(TestEmulator::start(webhook_time_scale))
            .map_err(|e| {
                napi::Error::new(
                    Status::GenericFailure,
                    format!("cannot start the emulator: {e}"),
                )
            })?;
        Ok(Self {
            url: inner.url(),
            port: u32::from(inner.port()),
            secret_key: inner.secret_key().to_owned(),
            inner: Mutex::new(Some(inner)),
        })
    }

    /// `http://127.0.0.1:PORT`.
    #[napi(getter)]
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The port it listens on.
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.port
    }

    /// The one key it accepts (`sk_live_…`).
    #[napi(getter)]
    pub fn secret_key(&self) -> String {
        self.secret_key.clone()
    }

    /// Creates and pays a live checkout of `amount` cents; returns its id.
    #[napi]
    pub fn paid_checkout(
        &self,
        amount: i64,
        metadata: Option<HashMap<String, String>>,
    ) -> napi::Result<String> {
        let metadata = metadata.map(|m| m.into_iter().collect());
        self.with(|e| e.paid_checkout(amount, metadata))?
            .map_err(|e| invalid(e.to_string()))
    }

    /// The ledger, oldest first, of one checkout or of all.
    #[napi]
    pub fn refunds(&self, checkout_id: Option<String>) -> napi::Result<Vec<NativeLedgerRefund>> {
        let rows = self.with(|e| e.refunds(checkout_id.as_deref()))?;
        Ok(rows.into_iter().map(NativeLedgerRefund::from).collect())
    }

    /// Sets the faults from their JSON object; returns them as JSON.
    #[napi]
    pub fn set_faults(&self, faults_json: String) -> napi::Result<String> {
        let faults = Faults::from_json(faults_json.as_bytes())
            .map_err(|e| invalid(format!("invalid faults: {e}")))?;
        self.with(|e| e.set_faults(faults))?
            .map_err(|e| invalid(e.to_string()))?;
        let now = self.with(TestEmulator::faults)?;
        serde_json::to_string(&now).map_err(|e| invalid(e.to_string()))
    }

    /// Registers `url` for every later event.
    #[napi]
    pub fn register_webhook(
        &self,
        url: String,
        name: String,
    ) -> napi::Result<NativeWebhookSubscription> {
        let sub = self
            .with(|e| e.register_webhook(&name, &url))?
            .map_err(|e| invalid(e.to_string()))?;
        Ok(NativeWebhookSubscription {
            id: sub.id,
            url: sub.url,
            secret: sub.secret,
        })
    }

    /// Every delivery attempt so far, oldest first.
    #[napi]
    pub fn deliveries(&self) -> napi::Result<Vec<NativeDelivery>> {
        let log = self.with(TestEmulator::deliveries)?;
        Ok(log.into_iter().map(NativeDelivery::from).collect())
    }

    /// A promise of the matching attempts, or of `null` after `timeout_ms`.
    #[napi(ts_return_type = "Promise<NativeDelivery[] | null>")]
    pub fn wait_for_deliveries<'env>(
        &self,
        env: &'env Env,
        event_type: Option<String>,
        count: u32,
        timeout_ms: f64,
    ) -> napi::Result<Object<'env>> {
        if !(timeout_ms.is_finite() && timeout_ms >= 0.0) {
            return Err(invalid("timeoutMs must be a non-negative number"));
        }
        let limit = Duration::from_secs_f64(timeout_ms / 1000.0);
        let waiting = self.with(|e| e.wait_for_deliveries(event_type, count as usize, limit))?;
        runtime::promise(env, async move {
            waiting.await.map(|log| {
                log.into_iter()
                    .map(NativeDelivery::from)
                    .collect::<Vec<_>>()
            })
        })
    }

    /// Forgets all state, faults included.
    #[napi]
    pub fn reset(&self) -> napi::Result<()> {
        self.with(TestEmulator::reset)
    }

    /// Stops gracefully; the promise resolves once the port is free.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let taken = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        runtime::promise(env, async move {
            match taken {
                Some(inner) => {
                    inner.shutdown().await;
                    true
                }
                None => false,
            }
        })
    }

    /// Whether `close()` was called.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }
}
