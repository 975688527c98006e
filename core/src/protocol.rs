//! The refund call as data: build the HTTP request, parse the HTTP response.
//!
//! Sans-I/O: nothing here opens a socket, sleeps or reads a clock, so the
//! same definitions serve the client, the emulator's tests and every binding.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::validate;

/// Header carrying the idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// The headers of every refund request besides the idempotency key, in the
/// order they are sent.
pub const JSON_HEADERS: [(&str, &str); 2] = [
    ("content-type", "application/json"),
    ("accept", "application/json"),
];
/// Header the service sets on a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Header carrying the server's request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The 400 description that means "nothing left to refund".
pub const ALREADY_REFUNDED_MESSAGE: &str = "Payment has already been refunded.";
/// Longest error body kept on an [`Error`], in bytes.
const MAX_KEPT_BODY: usize = 64 * 1024;

/// What to refund. Build with [`RefundRequest::new`] and the setters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefundRequest {
    /// The checkout id (`ch_…`), not a payment id.
    pub checkout_id: String,
    /// Cents to refund; `None` refunds everything still refundable.
    pub amount: Option<i64>,
    /// String pairs recorded with the refund, for reconciliation.
    pub metadata: Option<BTreeMap<String, String>>,
    /// The idempotency key to send; `None` makes a fresh UUIDv4 per call.
    pub idempotency_key: Option<String>,
}

impl RefundRequest {
    /// A full refund of `checkout_id`.
    pub fn new(checkout_id: impl Into<String>) -> Self {
        Self {
            checkout_id: checkout_id.into(),
            ..Self::default()
        }
    }
    /// Refunds only `cents`.
    pub fn amount(mut self, cents: i64) -> Self {
        self.amount = Some(cents);
        self
    }
    /// Adds one metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }
    /// Sends this idempotency key instead of a generated one.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Fixes the key this call will send, before the call starts: the
    /// caller's, or a fresh UUIDv4 made now. Bindings call this first so
    /// that a cancelled or failed call can still report its key.
    pub fn fix_idempotency_key(&mut self) -> &str {
        self.idempotency_key
            .get_or_insert_with(crate::policy::new_idempotency_key)
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        validate::checkout_id(&self.checkout_id)?;
        if let Some(amount) = self.amount {
            validate::amount(amount)?;
        }
        if let Some(metadata) = &self.metadata {
            validate::metadata(metadata)?;
        }
        if let Some(key) = &self.idempotency_key {
            validate::idempotency_key(key)?;
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct RefundBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a BTreeMap<String, String>>,
}

/// An HTTP request ready for a transport, minus the per-client and framing
/// headers the transport adds (`Authorization`, `User-Agent`, `Host`,
/// `Content-Length`).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Always `POST` for a refund.
    pub method: http::Method,
    /// Path below the base URL, starting with `/api/`.
    pub path: String,
    /// The request's own headers: [`JSON_HEADERS`], then the idempotency key.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// The JSON body (shared, so each retry sends it without a copy).
    pub body: bytes::Bytes,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// Everything but RFC 3986 unreserved characters is percent-encoded.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The path of the refund endpoint for `checkout_id`, segment-encoded.
pub fn refund_path(checkout_id: &str) -> String {
    let segment = percent_encoding::utf8_percent_encode(checkout_id, PATH_SEGMENT);
    format!("/api/checkouts/{segment}/refund")
}

/// Builds the refund request for a validated `request`, sending `key`.
///
/// The body is `{}` when neither amount nor metadata is given.
pub fn build_refund_request(request: &RefundRequest, key: &str) -> HttpRequest {
    let body = RefundBody {
        amount: request.amount,
        metadata: request.metadata.as_ref(),
    };
    // Serialising a struct of integers and string maps cannot fail.
    let body = serde_json::to_vec(&body)
        .map_or_else(|_| bytes::Bytes::from_static(b"{}"), bytes::Bytes::from);
    HttpRequest {
        method: http::Method::POST,
        path: refund_path(&request.checkout_id),
        headers: vec![
            (JSON_HEADERS[0].0, Cow::Borrowed(JSON_HEADERS[0].1)),
            (JSON_HEADERS[1].0, Cow::Borrowed(JSON_HEADERS[1].1)),
            (IDEMPOTENCY_KEY_HEADER, Cow::Owned(key.to_owned())),
        ],
        body,
    }
}

/// The refund status the service reported. Unknown values are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RefundStatus {
    /// `successful`: accepted for processing (the documented value).
    Successful,
    /// `succeeded`.
    Succeeded,
    /// `pending`.
    Pending,
    /// Any other value, as sent.
    Other(String),
}

impl RefundStatus {
    /// Parses leniently; never fails.
    pub fn parse(s: &str) -> Self {
        match s {
            "successful" => Self::Successful,
            "succeeded" => Self::Succeeded,
            "pending" => Self::Pending,
            other => Self::Other(other.to_owned()),
        }
    }
    /// Whether the service says the refund was made: `successful` (the
    /// documented value) or `succeeded` (seen in the provider's own code).
    /// `pending`, `failed` and anything else are not success.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Successful | Self::Succeeded)
    }
    /// The value as the service sent it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Successful => "successful",
            Self::Succeeded => "succeeded",
            Self::Pending => "pending",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for RefundStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An accepted refund. Final confirmation arrives as a `refund.succeeded`
/// webhook.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Refund {
    /// The refunded checkout (`ch_…`).
    pub checkout_id: String,
    /// The refund (`rfd_…`); webhooks carry the same id.
    pub refund_id: String,
    /// The status the service reported.
    pub status: RefundStatus,
    /// The service's message, e.g. `Your refund has been processed`.
    pub message: Option<String>,
    /// The idempotency key actually sent: persist it to retry safely.
    pub idempotency_key: String,
    /// Whether the service replayed an earlier answer for this key.
    pub replayed: bool,
    /// How many HTTP attempts this call made.
    pub attempts: u32,
    /// The server's request id, when it sent one.
    pub request_id: Option<String>,
    /// Time from the first attempt's start to the answer, backoff included.
    pub elapsed: Duration,
}

impl Refund {
    /// Replaces every occurrence of `secret` in the server-provided text
    /// fields: a server may echo the key back, even JSON-escaped.
    pub(crate) fn scrubbed(mut self, secret: &str) -> Self {
        if let RefundStatus::Other(status) = &mut self.status {
            crate::redact::scrub_text(status, secret);
        }
        for text in [&mut self.checkout_id, &mut self.refund_id]
            .into_iter()
            .chain(self.message.as_mut())
            .chain(self.request_id.as_mut())
        {
            crate::redact::scrub_text(text, secret);
        }
        self
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefundResponseBody {
    id: Option<String>,
    refund_id: Option<String>,
    status: Option<String>,
    message: Option<String>,
}

/// The response headers the protocol reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseMeta {
    /// `Idempotent-Replayed: true`.
    pub replayed: bool,
    /// `x-request-id`.
    pub request_id: Option<String>,
    /// `Retry-After`, resolved to a delay.
    pub retry_after: Option<Duration>,
}

impl ResponseMeta {
    /// Reads the headers the protocol needs; `now` resolves HTTP-date
    /// `Retry-After` values.
    pub fn from_headers(headers: &http::HeaderMap, now: SystemTime) -> Self {
        Self::read(headers, || now)
    }

    /// [`Self::from_headers`], reading the wall clock only for an HTTP-date
    /// `Retry-After` (a success answer has none).
    pub(crate) fn read(headers: &http::HeaderMap, now: impl FnOnce() -> SystemTime) -> Self {
        const REPLAYED: http::HeaderName = http::HeaderName::from_static(REPLAYED_HEADER);
        const REQUEST_ID: http::HeaderName = http::HeaderName::from_static(REQUEST_ID_HEADER);
        let text = |name: &http::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        Self {
            replayed: text(&REPLAYED).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
            request_id: text(&REQUEST_ID).map(str::to_owned),
            retry_after: text(&http::header::RETRY_AFTER)
                .and_then(|v| parse_retry_after_at(v, now)),
        }
    }
}

/// Parses `Retry-After`: delta seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    parse_retry_after_at(value, || now)
}

fn parse_retry_after_at(value: &str, now: impl FnOnce() -> SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now()).unwrap_or(Duration::ZERO))
}

/// Turns an HTTP answer to a refund request into a [`Refund`] or an
/// [`Error`] (without `attempts`, which the caller knows).
pub fn parse_refund_response(
    status: u16,
    meta: &ResponseMeta,
    body: &[u8],
    checkout_id: &str,
    idempotency_key: &str,
) -> Result<Refund> {
    if (200..300).contains(&status) {
        return parse_success(status, meta, body, checkout_id, idempotency_key);
    }
    Err(parse_error(status, meta, body).with_idempotency_key(idempotency_key))
}

fn parse_success(
    status: u16,
    meta: &ResponseMeta,
    body: &[u8],
    checkout_id: &str,
    idempotency_key: &str,
) -> Result<Refund> {
    let unexpected = |why: &str| {
        // A 2xx means the service accepted the refund: never "safe to forget".
        Error::new(ErrorKind::UnexpectedResponse, why)
            .with_status(status)
            .with_body(Some(kept_body(body)))
            .with_request_id(meta.request_id.clone())
            .with_idempotency_key(idempotency_key)
    };
    let parsed: RefundResponseBody = serde_json::from_slice(body).map_err(|_| {
        unexpected("the refund was accepted but the body is not the documented JSON")
    })?;
    let refund_id = parsed
        .refund_id
        .filter(|r| !r.is_empty())
        .ok_or_else(|| unexpected("the refund was accepted but the body has no refundId"))?;
    // An answer about another checkout is not an answer to this request.
    if parsed.id.as_deref().is_some_and(|id| id != checkout_id) {
        return Err(unexpected(
            "the refund was accepted but the answer names another checkout",
        ));
    }
    Ok(Refund {
        checkout_id: checkout_id.to_owned(),
        refund_id,
        status: RefundStatus::parse(parsed.status.as_deref().unwrap_or("successful")),
        message: parsed.message,
        idempotency_key: idempotency_key.to_owned(),
        replayed: meta.replayed,
        attempts: 1,
        request_id: meta.request_id.clone(),
        elapsed: Duration::ZERO,
    })
}

fn kept_body(body: &[u8]) -> String {
    let cut = &body[..body.len().min(MAX_KEPT_BODY)];
    String::from_utf8_lossy(cut).into_owned()
}

/// The error kind an HTTP status maps to, before looking at the body.
pub fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        400 => ErrorKind::InvalidRequest,
        401 | 403 => ErrorKind::Authentication,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::IdempotencyConflict,
        422 => ErrorKind::IdempotencyMismatch,
        429 => ErrorKind::RateLimited,
        500..=599 => ErrorKind::Server,
        402 | 405..=499 => ErrorKind::InvalidRequest,
        _ => ErrorKind::UnexpectedResponse,
    }
}

/// Builds the [`Error`] for a non-2xx answer: kind by status, refined by
/// message; message from the first of `errorMessage`, `displayMessage`,
/// `description`, `message`; raw body kept.
pub fn parse_error(status: u16, meta: &ResponseMeta, body: &[u8]) -> Error {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let field = |k: &str| {
        json.as_ref()
            .and_then(|j| j.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let message = ["errorMessage", "displayMessage", "description", "message"]
        .iter()
        .find_map(|k| field(k))
        .unwrap_or_else(|| default_message(status));
    let mut kind = kind_for_status(status);
    if kind == ErrorKind::InvalidRequest && message.contains("already been refunded") {
        kind = ErrorKind::AlreadyRefunded;
    }
    Error::new(kind, message)
        .with_status(status)
        .with_error_code(field("errorCode"))
        .with_request_id(meta.request_id.clone())
        .with_body((!body.is_empty()).then(|| kept_body(body)))
        .with_retry_after(meta.retry_after)
        .with_replayed(meta.replayed)
}

fn default_message(status: u16) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown status");
    format!("{status} {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_refund_sends_an_empty_object() {
        let req = build_refund_request(&RefundRequest::new("ch_1"), "k1");
        assert_eq!(&req.body[..], b"{}");
        assert_eq!(req.path, "/api/checkouts/ch_1/refund");
    }

    #[test]
    fn a_replayed_error_answer_says_so() {
        let body = br#"{"errorCode":"invalid_amount","errorMessage":"too much"}"#;
        let first = parse_error(400, &ResponseMeta::default(), body);
        assert!(!first.is_replayed());
        let meta = ResponseMeta {
            replayed: true,
            ..ResponseMeta::default()
        };
        assert!(parse_error(400, &meta, body).is_replayed());
    }

    #[test]
    fn path_segment_is_percent_encoded() {
        assert_eq!(refund_path("a/b c"), "/api/checkouts/a%2Fb%20c/refund");
    }

    #[test]
    fn partial_refund_sends_amount_and_metadata() {
        let req = build_refund_request(
            &RefundRequest::new("ch_1")
                .amount(150)
                .metadata("order", "42"),
            "k1",
        );
        assert_eq!(
            &req.body[..],
            br#"{"amount":150,"metadata":{"order":"42"}}"#
        );
    }

    #[test]
    fn the_callers_key_wins_and_a_fixed_key_stays_fixed() {
        let mut mine = RefundRequest::new("ch_1").idempotency_key("mine");
        assert_eq!(mine.fix_idempotency_key(), "mine");
        let mut fresh = RefundRequest::new("ch_1");
        let key = fresh.fix_idempotency_key().to_owned();
        assert_eq!(
            uuid::Uuid::parse_str(&key)
                .map(|u| u.get_version_num())
                .ok(),
            Some(4)
        );
        assert_eq!(fresh.fix_idempotency_key(), key);
    }

    #[test]
    fn unknown_status_values_are_kept() {
        assert_eq!(RefundStatus::parse("queued").as_str(), "queued");
    }

    #[test]
    fn retry_after_accepts_http_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        let got = parse_retry_after("Sun, 06 Nov 1994 08:49:40 GMT", now);
        assert_eq!(got, Some(Duration::from_secs(3)));
    }
}
