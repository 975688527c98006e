//! `NativeWebhookVerifier`: header pairs and a raw body in, a verified
//! event out.

use napi::bindgen_prelude::{Either, Uint8ArraySlice};
use napi::Env;
use napi_derive::napi;
use serde_json::Value;

use crate::error;

/// A verified webhook event as a positional array, in the order
/// `node/index.js`'s `WebhookEvent` reads it: id, webhookId, type,
/// createdDate, payloadJson, refundId, checkoutId, paymentId, amount,
/// currency, status, mode, failureReason (absent fields are `null`).
///
/// An array, not an object: V8 builds it without looking up thirteen
/// property names per event, which was a quarter of a verification's cost.
/// `payloadJson` is the raw `payload` object as JSON (`{}` when the event
/// has none); `index.js` parses it on first access.
pub type EventFields = (
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn event_fields(event: refundkit::WebhookEvent) -> EventFields {
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
    (
        event.id,
        event.webhook_id,
        event.event_type,
        event.created_date,
        payload_json,
        refund_id,
        checkout_id,
        payment_id,
        amount,
        currency,
        status,
        mode,
        failure_reason,
    )
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
    ) -> napi::Result<EventFields> {
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
            .map(event_fields)
            .map_err(|e| error::throw(env, &e))
    }
}
