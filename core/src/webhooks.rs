//! Webhooks: Standard Webhooks signature verification, typed events, and
//! the signer the emulator and tests use.
//!
//! Verification works on the raw body bytes as received: never re-serialise
//! JSON before verifying.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Error, ErrorKind, Result};

type HmacSha256 = Hmac<Sha256>;

pub use crate::defaults::WEBHOOK_TOLERANCE as DEFAULT_TOLERANCE;
/// Largest webhook body accepted, in bytes.
pub const MAX_BODY_LEN: usize = 1 << 20;

/// Why most valid deliveries fail: the body was parsed and re-serialised
/// (or re-encoded) before verification, which changes the signed bytes.
const NO_MATCH: &str = "no signature matches: verify the raw request bytes exactly as \
received, not a body parsed as JSON and serialised again (that changes the bytes \
the signature covers), with the endpoint's whsec_ secret";
/// Longest header value examined. It also bounds the work of one
/// verification: a `webhook-signature` header holds at most about 85
/// signatures, every one of which is compared, as the Standard Webhooks
/// reference does.
const MAX_HEADER_LEN: usize = 4096;

fn failure(reason: impl Into<String>) -> Error {
    Error::new(ErrorKind::WebhookVerification, reason)
}

/// Decodes a `whsec_<base64>` secret into its HMAC key.
fn decode_secret(secret: &str) -> Result<Vec<u8>> {
    let bad = |p: &str| Error::invalid(ErrorKind::Configuration, "secret", p);
    let b64 = secret
        .strip_prefix("whsec_")
        .ok_or_else(|| bad("must start with whsec_"))?;
    let key = B64
        .decode(b64)
        .map_err(|_| bad("must be whsec_ followed by standard base64"))?;
    if key.is_empty() {
        return Err(bad("must not be empty after whsec_"));
    }
    Ok(key)
}

fn hmac_for(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Signs webhook deliveries (the emulator's side of the protocol).
#[derive(Clone)]
pub struct WebhookSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSigner { .. }")
    }
}

impl WebhookSigner {
    /// A signer for a `whsec_<base64>` secret.
    pub fn new(secret: &str) -> Result<Self> {
        Ok(Self {
            key: decode_secret(secret)?,
        })
    }

    /// Makes a fresh random `whsec_` secret (24 random bytes).
    pub fn generate_secret() -> String {
        let bytes: [u8; 24] = rand::random();
        format!("whsec_{}", B64.encode(bytes))
    }

    /// The `webhook-signature` header value: `v1,<base64 HMAC-SHA256>` over
    /// `"{msg_id}.{timestamp}.{body}"`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = hmac_for(&self.key, msg_id, timestamp, body)
            .finalize()
            .into_bytes();
        format!("v1,{}", B64.encode(tag))
    }

    /// The three headers of a delivery, in order: id, timestamp, signature.
    pub fn headers(
        &self,
        msg_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> [(&'static str, String); 3] {
        [
            ("webhook-id", msg_id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", self.sign(msg_id, timestamp, body)),
        ]
    }
}

/// Verifies webhook deliveries and parses them into [`WebhookEvent`]s.
///
/// Accepts several secrets so a secret can be rotated without downtime.
#[derive(Clone)]
pub struct WebhookVerifier {
    keys: Vec<Vec<u8>>,
    tolerance: Duration,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("secrets", &self.keys.len())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl WebhookVerifier {
    /// A verifier for one `whsec_<base64>` secret, with the default tolerance.
    pub fn new(secret: &str) -> Result<Self> {
        Self::with_secrets([secret])
    }

    /// A verifier accepting a signature made with any of `secrets`.
    pub fn with_secrets<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        let keys = secrets
            .into_iter()
            .map(decode_secret)
            .collect::<Result<Vec<_>>>()?;
        if keys.is_empty() {
            return Err(Error::invalid(
                ErrorKind::Configuration,
                "secret",
                "at least one secret is required",
            ));
        }
        Ok(Self {
            keys,
            tolerance: DEFAULT_TOLERANCE,
        })
    }

    /// Sets how far `webhook-timestamp` may be from now, past or future.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The configured tolerance.
    pub fn tolerance_value(&self) -> Duration {
        self.tolerance
    }

    /// Verifies a delivery against the current time and parses it.
    ///
    /// `headers` are (name, value) pairs; names compare case-insensitively.
    /// A header that appears twice is rejected.
    pub fn verify<'h, H>(&self, headers: H, body: &[u8]) -> Result<WebhookEvent>
    where
        H: IntoIterator<Item = (&'h str, &'h str)>,
    {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.verify_at(headers, body, now)
    }

    /// Verifies as if the time were `now` (Unix seconds): for tests and
    /// replaying stored deliveries.
    pub fn verify_at<'h, H>(&self, headers: H, body: &[u8], now: i64) -> Result<WebhookEvent>
    where
        H: IntoIterator<Item = (&'h str, &'h str)>,
    {
        let h = SignatureHeaders::collect(headers)?;
        if body.len() > MAX_BODY_LEN {
            return Err(failure(format!("body is larger than {MAX_BODY_LEN} bytes")));
        }
        let timestamp: i64 = h
            .timestamp
            .parse()
            .map_err(|_| failure("webhook-timestamp is not an integer"))?;
        let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
        if now.saturating_sub(timestamp) > tolerance {
            return Err(failure("webhook-timestamp is too old"));
        }
        if timestamp.saturating_sub(now) > tolerance {
            return Err(failure("webhook-timestamp is too far in the future"));
        }
        let candidates = parse_signatures(h.signature)?;
        let matched = self.keys.iter().any(|key| {
            let expected = hmac_for(key, h.id, timestamp, body).finalize().into_bytes();
            candidates
                .iter()
                .any(|sig| bool::from(sig.as_slice().ct_eq(expected.as_slice())))
        });
        if !matched {
            return Err(failure(NO_MATCH));
        }
        WebhookEvent::parse(h.id, body)
    }
}

struct SignatureHeaders<'h> {
    id: &'h str,
    timestamp: &'h str,
    signature: &'h str,
}

impl<'h> SignatureHeaders<'h> {
    fn collect<H>(headers: H) -> Result<Self>
    where
        H: IntoIterator<Item = (&'h str, &'h str)>,
    {
        let (mut id, mut timestamp, mut signature) = (None, None, None);
        for (name, value) in headers {
            let slot = if name.eq_ignore_ascii_case("webhook-id") {
                &mut id
            } else if name.eq_ignore_ascii_case("webhook-timestamp") {
                &mut timestamp
            } else if name.eq_ignore_ascii_case("webhook-signature") {
                &mut signature
            } else {
                continue;
            };
            if slot.is_some() {
                return Err(failure(format!(
                    "header {} appears more than once",
                    name.to_ascii_lowercase()
                )));
            }
            if value.len() > MAX_HEADER_LEN {
                return Err(failure(format!(
                    "header {} is longer than {MAX_HEADER_LEN} bytes",
                    name.to_ascii_lowercase()
                )));
            }
            *slot = Some(value.trim());
        }
        let missing = |n: &str| failure(format!("missing header {n}"));
        let id = id.ok_or_else(|| missing("webhook-id"))?;
        if id.is_empty() {
            return Err(failure("webhook-id is empty"));
        }
        Ok(Self {
            id,
            timestamp: timestamp.ok_or_else(|| missing("webhook-timestamp"))?,
            signature: signature.ok_or_else(|| missing("webhook-signature"))?,
        })
    }
}

/// The decoded `v1` signatures of a `webhook-signature` header.
fn parse_signatures(header: &str) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for entry in header.split(' ').filter(|e| !e.is_empty()) {
        let Some((version, sig)) = entry.split_once(',') else {
            return Err(failure("webhook-signature entry is not version,signature"));
        };
        if version != "v1" {
            continue;
        }
        // An undecodable signature is kept as one that can never match.
        out.push(B64.decode(sig).unwrap_or_default());
    }
    if out.is_empty() {
        return Err(failure("webhook-signature has no v1 signature"));
    }
    Ok(out)
}

/// A verified webhook event.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// The event id (`evt_…`).
    pub id: String,
    /// The `webhook-id` header: deduplicate deliveries on this.
    pub webhook_id: String,
    /// The event type, e.g. `refund.succeeded`.
    pub event_type: String,
    /// `createdDate`, as sent.
    pub created_date: Option<String>,
    /// The raw `payload` object.
    pub payload: Value,
    /// The payload, typed by event type.
    pub data: EventData,
}

/// The typed payload of a [`WebhookEvent`].
#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    /// `refund.succeeded`.
    RefundSucceeded(RefundEvent),
    /// `refund.failed`.
    RefundFailed(RefundEvent),
    /// `payment.succeeded`.
    PaymentSucceeded(PaymentEvent),
    /// Any other type, kept as sent.
    Other,
}

/// The payload of a refund event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefundEvent {
    /// Refund id (`rfd_…`), equal to the refund call's `refund_id`.
    pub refund_id: Option<String>,
    /// The refunded checkout (`metadata.checkoutId`).
    pub checkout_id: Option<String>,
    /// Cents refunded by this refund.
    pub amount: Option<i64>,
    /// Currency code, e.g. `ZAR`.
    pub currency: Option<String>,
    /// The refunded payment (`p_…`).
    pub payment_id: Option<String>,
    /// `succeeded` or `failed`.
    pub status: Option<String>,
    /// `live` or `test`.
    pub mode: Option<String>,
    /// Cents still refundable after this refund, when sent.
    pub refundable_amount: Option<i64>,
    /// Why the refund failed (`refund.failed` only).
    pub failure_reason: Option<String>,
}

/// The payload of a payment event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PaymentEvent {
    /// Payment id (`p_…`).
    pub payment_id: Option<String>,
    /// The paid checkout (`metadata.checkoutId`).
    pub checkout_id: Option<String>,
    /// Cents paid.
    pub amount: Option<i64>,
    /// Currency code.
    pub currency: Option<String>,
    /// `succeeded`.
    pub status: Option<String>,
    /// `live` or `test`.
    pub mode: Option<String>,
    /// The string entries of `metadata` (the checkout's metadata plus `checkoutId`).
    pub metadata: BTreeMap<String, String>,
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn int_field(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

impl WebhookEvent {
    /// Parses a webhook body (after verification).
    pub fn parse(webhook_id: &str, body: &[u8]) -> Result<Self> {
        let mut root: Value = serde_json::from_slice(body)
            .map_err(|e| failure(format!("body is not valid JSON ({e})")))?;
        let Some(fields) = root.as_object_mut() else {
            return Err(failure("body is not a JSON object"));
        };
        // Moved out, not cloned: the payload is most of the body.
        let payload = fields.remove("payload").unwrap_or(Value::Null);
        let event_type =
            str_field(&root, "type").ok_or_else(|| failure("body has no string field \"type\""))?;
        let id = str_field(&root, "id").unwrap_or_default();
        let created_date = str_field(&root, "createdDate");
        let data = match event_type.as_str() {
            "refund.succeeded" => EventData::RefundSucceeded(RefundEvent::from_payload(&payload)),
            "refund.failed" => EventData::RefundFailed(RefundEvent::from_payload(&payload)),
            "payment.succeeded" => {
                EventData::PaymentSucceeded(PaymentEvent::from_payload(&payload))
            }
            _ => EventData::Other,
        };
        Ok(Self {
            id,
            webhook_id: webhook_id.to_owned(),
            event_type,
            created_date,
            payload,
            data,
        })
    }

    /// The refund payload, for `refund.*` events.
    pub fn refund(&self) -> Option<&RefundEvent> {
        match &self.data {
            EventData::RefundSucceeded(r) | EventData::RefundFailed(r) => Some(r),
            _ => None,
        }
    }

    /// The payment payload, for `payment.*` events.
    pub fn payment(&self) -> Option<&PaymentEvent> {
        match &self.data {
            EventData::PaymentSucceeded(p) => Some(p),
            _ => None,
        }
    }

    /// A field both payload kinds carry, from whichever this event has.
    fn either<'a, T: ?Sized>(
        &'a self,
        refund: impl FnOnce(&'a RefundEvent) -> Option<&'a T>,
        payment: impl FnOnce(&'a PaymentEvent) -> Option<&'a T>,
    ) -> Option<&'a T> {
        match &self.data {
            EventData::RefundSucceeded(r) | EventData::RefundFailed(r) => refund(r),
            EventData::PaymentSucceeded(p) => payment(p),
            EventData::Other => None,
        }
    }

    /// The checkout refunded or paid (`metadata.checkoutId`).
    pub fn checkout_id(&self) -> Option<&str> {
        self.either(|r| r.checkout_id.as_deref(), |p| p.checkout_id.as_deref())
    }

    /// The payment refunded or made (`p_…`).
    pub fn payment_id(&self) -> Option<&str> {
        self.either(|r| r.payment_id.as_deref(), |p| p.payment_id.as_deref())
    }

    /// Cents refunded by this refund, or paid by this payment.
    pub fn amount(&self) -> Option<i64> {
        self.either(|r| r.amount.as_ref(), |p| p.amount.as_ref())
            .copied()
    }

    /// Currency code, e.g. `ZAR`.
    pub fn currency(&self) -> Option<&str> {
        self.either(|r| r.currency.as_deref(), |p| p.currency.as_deref())
    }

    /// `succeeded` or `failed`.
    pub fn status(&self) -> Option<&str> {
        self.either(|r| r.status.as_deref(), |p| p.status.as_deref())
    }

    /// `live` or `test`.
    pub fn mode(&self) -> Option<&str> {
        self.either(|r| r.mode.as_deref(), |p| p.mode.as_deref())
    }
}

impl RefundEvent {
    fn from_payload(p: &Value) -> Self {
        let meta = p.get("metadata").unwrap_or(&Value::Null);
        Self {
            refund_id: str_field(p, "id"),
            checkout_id: str_field(meta, "checkoutId"),
            amount: int_field(p, "amount"),
            currency: str_field(p, "currency"),
            payment_id: str_field(p, "paymentId"),
            status: str_field(p, "status"),
            mode: str_field(p, "mode"),
            refundable_amount: int_field(p, "refundableAmount"),
            failure_reason: str_field(p, "failureReason"),
        }
    }
}

impl PaymentEvent {
    fn from_payload(p: &Value) -> Self {
        let meta = p.get("metadata").and_then(Value::as_object);
        let metadata = meta
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            payment_id: str_field(p, "id"),
            checkout_id: meta
                .and_then(|m| m.get("checkoutId"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            amount: int_field(p, "amount"),
            currency: str_field(p, "currency"),
            status: str_field(p, "status"),
            mode: str_field(p, "mode"),
            metadata,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn signs_the_standard_webhooks_vector() {
        let s = WebhookSigner::new(SECRET).expect("secret");
        assert_eq!(
            s.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn generated_secrets_round_trip() {
        let secret = WebhookSigner::generate_secret();
        let signer = WebhookSigner::new(&secret).expect("signer");
        let body = br#"{"type":"refund.succeeded","payload":{"id":"rfd_1"}}"#;
        let [id, ts, sig] = signer.headers("msg_1", 1000, body);
        let verifier = WebhookVerifier::new(&secret).expect("verifier");
        let headers = [
            (id.0, id.1.as_str()),
            (ts.0, ts.1.as_str()),
            (sig.0, sig.1.as_str()),
        ];
        let event = verifier.verify_at(headers, body, 1000).expect("verified");
        assert_eq!(
            event.refund().and_then(|r| r.refund_id.as_deref()),
            Some("rfd_1")
        );
    }
}
