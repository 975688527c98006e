//! `NativeWebhookVerifier`: header pairs and a raw body in, a verified
//! event out.

use napi::bindgen_prelude::{Either, Uint8ArraySlice};
use napi::Env;
use napi_derive::napi;
use serde_json::Value;

use crate::error;

/// A verified webhook event; fields absent from the payload are `None`.
#[napi(object, use_nullable = true)]
pub struct NativeWebhookEvent {
    /// The event id (`evt_…`).
    pub id: String,
    /// The `webhook-id` header: deduplicate deliveries on this.
    pub webhook_id: String,
    /// The event type, e.g. `refund.succeeded`.
    #[napi(js_name = "type")]
    pub event_type: String,
    /// `createdDate`, as sent.
    pub created_date: Option<String>,
    /// The raw `payload` object as JSON (`{}` when the event has none);
    /// `node/index.js` parses it on first access.
    pub payload_json: String,
    /// The refund (`rfd_…`) of a `refund.*` event.
    pub refund_id: Option<String>,
    /// The checkout refunded or paid (`ch_…`).
    pub checkout_id: Option<String>,
    /// The payment refunded or made (`p_…`).
    pub payment_id: Option<String>,
    /// Cents refunded or paid.
    pub amount: Option<i64>,
    /// Currency code, e.g. `ZAR`.
    pub currency: Option<String>,
    /// `succeeded` or `failed`.
    pub status: Option<String>,
    /// `live` or `test`.
    pub mode: Option<String>,
    /// Why the refund failed (`refund.failed` only).
    pub failure_reason: Option<String>,
}

impl From<refundkit::WebhookEvent> for NativeWebhookEvent {
    fn from(event: refundkit::WebhookEvent) -> Self {
        let owned = |s: Option<&str>| s.map(str::to_owned);
        let refund = event.refund();
        let refund_id = refund.and_then(|r| r.refund_id.clone());
        let failure_reason = refund.and_then(|r| r.failure_reason.clone());
        let checkout_id = owned(event.checkout_id());
        let payment_id = owned(event.payment_id());
        let amount = event.amount();
        let currency = owned(event.currency());
        let status = owned(event.status());
        let mode = owned(event.mode());
        let payload_json = match &event.payload {
            Value::Null => "{}".to_owned(),
            payload => payload.to_string(),
        };
        Self {
            id: event.id,
            webhook_id: event.webhook_id,
            event_type: event.event_type,
            created_date: event.created_date,
            payload_json,
            refund_id,
            checkout_id,
            payment_id,
            amount,
            currency,
            status,
            mode,
            failure_reason,
        }
    }
}

/// The core verifier behind `refundkit.WebhookVerifier`.
#[napi]
pub struct NativeWebhookVerifier {
    inner: refundkit::WebhookVerifier,
}

#[napi]
impl NativeWebhookVerifier {
    /// One or more `whsec_…` secrets (several while rotating) and the
    /// timestamp tolerance in seconds (core's default when absent).
    #[napi(constructor)]
    pub fn new(
        env: &Env,
        secrets: Vec<String>,
        tolerance_seconds: Option<f64>,
    ) -> napi::Result<Self> {
        let throw = |e: refundkit::Error| error::throw(env, &e);
        let mut inner =
            refundkit::WebhookVerifier::with_secrets(secrets.iter().map(String::as_str))
                .map_err(throw)?;
        if let Some(seconds) = tolerance_seconds {
            let tolerance =
                refundkit::validate::seconds("toleranceSeconds", seconds).map_err(throw)?;
            inner = inner.tolerance(tolerance);
        }
        Ok(Self { inner })
    }

    /// The timestamp tolerance, in seconds.
    #[napi(getter)]
    pub fn tolerance_seconds(&self) -> f64 {
        self.inner.tolerance_value().as_secs_f64()
    }

    /// Verifies one delivery. `headers` is flat: name, value, name, value…
    /// `now` (Unix seconds) replaces the clock.
    #[napi]
    pub fn verify(
        &self,
        env: &Env,
        headers: Vec<String>,
        body: Either<Uint8ArraySlice<'_>, String>,
        now: Option<i64>,
    ) -> napi::Result<NativeWebhookEvent> {
        let pairs = headers
            .chunks_exact(2)
            .map(|pair| (pair[0].as_str(), pair[1].as_str()));
        let body: &[u8] = match &body {
            Either::A(bytes) => bytes,
            Either::B(text) => text.as_bytes(),
        };
        let verified = match now {
            Some(now) => self.inner.verify_at(pairs, body, now),
            None => self.inner.verify(pairs, body),
        };
        verified
            .map(NativeWebhookEvent::from)
            .map_err(|e| error::throw(env, &e))
    }
}
