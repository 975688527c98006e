//! The relay's HTTP answers: its own errors in the API's error body shape,
//! and the service's answer passed back as it came.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, StatusCode};
use refundkit::protocol::{IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER, REQUEST_ID_HEADER};
use refundkit::{ErrorKind, Refund};
use serde_json::json;

/// An answer of the relay's own: status, `errorCode` and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnError {
    /// The HTTP status.
    pub status: StatusCode,
    /// `errorCode`: `invalid_token`, `forbidden_by_policy`, `rate_limited`, …
    pub code: &'static str,
    /// The text of `errorMessage`, `displayMessage` and `description`.
    pub message: String,
    /// `Retry-After`, for 429.
    pub retry_after: Option<Duration>,
}

impl OwnError {
    /// An answer with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The response, with the app's key when there is one.
    pub fn into_response_with_key(self, app_key: Option<&str>) -> Response {
        let body = json!({
            "errorCode": self.code,
            "errorMessage": self.message,
            "displayMessage": self.message,
            "description": self.message,
        });
        let mut headers = HeaderMap::new();
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750: tells a bearer client to get a new token.
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        if let Some(after) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_secs(after)));
        }
        add_key(&mut headers, app_key);
        json_response(self.status, headers, body.to_string().into_bytes())
    }
}

impl IntoResponse for OwnError {
    fn into_response(self) -> Response {
        self.into_response_with_key(None)
    }
}

/// Whole seconds, rounded up, at least 1.
pub fn retry_after_secs(after: Duration) -> u64 {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    secs.max(1)
}

fn add_key(headers: &mut HeaderMap, app_key: Option<&str>) {
    if let Some(value) = app_key.and_then(|k| HeaderValue::from_str(k).ok()) {
        headers.insert(IDEMPOTENCY_KEY_HEADER, value);
    }
}

fn add_request_id(headers: &mut HeaderMap, request_id: Option<&str>) {
    if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
}

fn json_response(status: StatusCode, headers: HeaderMap, body: Vec<u8>) -> Response {
    let mut response = (status, headers, body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The service accepted the refund: 202 with the API's body, its
/// `Idempotent-Replayed` and `x-request-id`, and the app's key.
pub fn accepted(refund: &Refund, app_key: &str) -> Response {
    let body = AcceptedBody {
        id: &refund.checkout_id,
        refund_id: &refund.refund_id,
        status: refund.status.as_str(),
        message: refund.message.as_deref(),
    };
    let mut headers = HeaderMap::new();
    if refund.replayed {
        headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    add_request_id(&mut headers, refund.request_id.as_deref());
    add_key(&mut headers, Some(app_key));
    // Strings and a struct cannot fail to serialise.
    let body = serde_json::to_vec(&body).unwrap_or_default();
    json_response(StatusCode::ACCEPTED, headers, body)
}

/// The API's 202 body, written straight from the parsed refund's fields
/// (no intermediate `serde_json::Value`).
#[derive(serde::Serialize)]
struct AcceptedBody<'a> {
    id: &'a str,
    #[serde(rename = "refundId")]
    refund_id: &'a str,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

/// The service refused, or did not answer. An HTTP answer goes back as it
/// came (status, body, `x-request-id`, `Retry-After`,
/// `Idempotent-Replayed`); no answer becomes
/// 502 (network) or 504 (timeout) telling the app to retry with its key.
pub fn upstream_failure(error: &refundkit::Error, app_key: &str) -> Response {
    if let Some(status) = error.status().and_then(|s| StatusCode::from_u16(s).ok()) {
        let mut headers = HeaderMap::new();
        if error.is_replayed() {
            headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
        }
        add_request_id(&mut headers, error.request_id());
        if let Some(after) = error.retry_after() {
            headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_secs(after)));
        }
        add_key(&mut headers, Some(app_key));
        let body = match error.body() {
            Some(body) => body.as_bytes().to_vec(),
            None => json!({
                "errorCode": "upstream_error",
                "errorMessage": error.message(),
                "displayMessage": error.message(),
                "description": error.message(),
            })
            .to_string()
            .into_bytes(),
        };
        return json_response(status, headers, body);
    }
    let retry = if error.is_outcome_unknown() {
        format!("; the refund may have been made: retry with the same Idempotency-Key ({app_key})")
    } else {
        format!("; no refund was made: retry later with the same Idempotency-Key ({app_key})")
    };
    let own = match error.kind() {
        ErrorKind::Timeout => OwnError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            format!("the payment service did not answer in time{retry}"),
        ),
        ErrorKind::InvalidInput => OwnError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            error.message().to_owned(),
        ),
        _ => OwnError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_unreachable",
            format!("the payment service could not be reached{retry}"),
        ),
    };
    own.into_response_with_key(Some(app_key))
}
