//! `WebhookVerifier` and the flat `WebhookEvent` record.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use crate::error::RefundError;

/// Verifies Standard Webhooks signatures on the raw body bytes and parses
/// the event. Accepts a signature made with any of its secrets, so a
/// secret can be rotated without downtime. Never shows its secrets.
#[derive(uniffi::Object)]
#[uniffi::export(Display)]
pub struct WebhookVerifier {
    inner: refundkit::WebhookVerifier,
}

impl fmt::Display for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

#[uniffi::export]
impl WebhookVerifier {
    /// A verifier for `whsec_<base64>` `secrets`, accepting timestamps at
    /// most `tolerance_secs` away from now (past or future; `None` means
    /// the core's default, 300 s).
    /// Throws `Configuration` for a malformed secret or an empty list.
    #[uniffi::constructor(default(tolerance_secs = None))]
    pub fn new(secrets: Vec<String>, tolerance_secs: Option<u64>) -> Result<Self, RefundError> {
        let mut inner =
            refundkit::WebhookVerifier::with_secrets(secrets.iter().map(String::as_str))?;
        if let Some(secs) = tolerance_secs {
            inner = inner.tolerance(Duration::from_secs(secs));
        }
        Ok(Self { inner })
    }

    /// Verifies a delivery against the current time and parses it.
    /// Header names compare case-insensitively; pass the body exactly as
    /// received. Throws `WebhookVerification`.
    pub fn verify(
        &self,
        headers: HashMap<String, String>,
        body: Vec<u8>,
    ) -> Result<WebhookEvent, RefundError> {
        let pairs = headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        Ok(self.inner.verify(pairs, &body)?.into())
    }

    /// Verifies as if the time were `now` (Unix seconds): for tests and for
    /// replaying stored deliveries.
    pub fn verify_at(
        &self,
        headers: HashMap<String, String>,
        body: Vec<u8>,
        now: i64,
    ) -> Result<WebhookEvent, RefundError> {
        let pairs = headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        Ok(self.inner.verify_at(pairs, &body, now)?.into())
    }
}

/// A verified webhook event, flattened: the typed fields are filled for
/// `refund.*` and `payment.succeeded` events and `None` where absent;
/// `payload_json` always holds the raw payload.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WebhookEvent {
    /// The event id (`evt_…`).
    pub id: String,
    /// The `webhook-id` header: deduplicate deliveries on this.
    pub webhook_id: String,
    /// The event type, e.g. `refund.succeeded` (unknown types are kept).
    pub event_type: String,
    /// `createdDate`, as sent.
    pub created_date: Option<String>,
    /// The `payload` object as compact JSON.
    pub payload_json: String,
    /// Refund events: the refund id (`rfd_…`), equal to `Refund.refund_id`.
    pub refund_id: Option<String>,
    /// The payment (`p_…`).
    pub payment_id: Option<String>,
    /// The checkout (`metadata.checkoutId`).
    pub checkout_id: Option<String>,
    /// Cents refunded by this refund, or paid by this payment.
    pub amount: Option<i64>,
    /// Currency code, e.g. `ZAR`.
    pub currency: Option<String>,
    /// `succeeded` or `failed`.
    pub status: Option<String>,
    /// `live` or `test`.
    pub mode: Option<String>,
    /// Refund events: cents still refundable afterwards, when sent.
    pub refundable_amount: Option<i64>,
    /// `refund.failed`: why the refund failed.
    pub failure_reason: Option<String>,
    /// Payment events: the string entries of `metadata`.
    pub metadata: HashMap<String, String>,
}

impl From<refundkit::WebhookEvent> for WebhookEvent {
    fn from(e: refundkit::WebhookEvent) -> Self {
        let own = |s: Option<&str>| s.map(str::to_owned);
        let refund = e.refund();
        Self {
            refund_id: own(refund.and_then(|r| r.refund_id.as_deref())),
            payment_id: own(e.payment_id()),
            checkout_id: own(e.checkout_id()),
            amount: e.amount(),
            currency: own(e.currency()),
            status: own(e.status()),
            mode: own(e.mode()),
            refundable_amount: refund.and_then(|r| r.refundable_amount),
            failure_reason: own(refund.and_then(|r| r.failure_reason.as_deref())),
            metadata: e
                .payment()
                .map(|p| p.metadata.clone().into_iter().collect())
                .unwrap_or_default(),
            payload_json: e.payload.to_string(),
            id: e.id,
            webhook_id: e.webhook_id,
            event_type: e.event_type,
            created_date: e.created_date,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn the_verifier_never_shows_its_secrets() {
        let v = WebhookVerifier::new(vec![SECRET.to_owned()], None).expect("verifier");
        assert!(!v.to_string().contains("MfKQ9r8"));
    }

    #[test]
    fn a_bad_secret_is_a_configuration_error() {
        let err = WebhookVerifier::new(vec!["nope".to_owned()], None)
            .err()
            .expect("refused");
        assert_eq!(err.kind(), "configuration");
    }

    #[test]
    fn signed_refund_events_are_flattened() {
        let signer = refundkit::WebhookSigner::new(SECRET).expect("signer");
        let body = br#"{"id":"evt_1","type":"refund.failed","payload":{"id":"rfd_1","amount":5,"failureReason":"no","metadata":{"checkoutId":"ch_1"}}}"#;
        let headers: HashMap<String, String> = signer
            .headers("msg_1", 1000, body)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let v = WebhookVerifier::new(vec![SECRET.to_owned()], None).expect("verifier");
        let event = v.verify_at(headers, body.to_vec(), 1000).expect("verified");
        assert_eq!(event.refund_id.as_deref(), Some("rfd_1"));
        assert_eq!(event.checkout_id.as_deref(), Some("ch_1"));
        assert_eq!(event.failure_reason.as_deref(), Some("no"));
        assert_eq!(event.amount, Some(5));
    }
}
