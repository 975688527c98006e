//! What handlers answer: a status and a JSON body, and the error body the
//! emulator sends on every error.

use std::borrow::Cow;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use serde_json::json;

/// The response header marking an idempotent replay.
const REPLAYED: &str = "idempotent-replayed";

/// A finished answer. Idempotency records store exactly this, so a replay
/// sends the same status and bytes.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
    pub(crate) replayed: bool,
}

impl Reply {
    /// `status` with `body` serialised as JSON.
    pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Self {
        // A `Value` always serialises.
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        Self {
            status,
            body: Bytes::from(bytes),
            replayed: false,
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.replayed {
            headers.insert(REPLAYED, HeaderValue::from_static("true"));
        }
        response
    }
}

/// An error answer: `{"errorCode", "errorMessage", "displayMessage",
/// "description"}`, the three texts equal. The codes are **\[ours\]**.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: Cow<'static, str>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 for a malformed request.
    pub(crate) fn validation(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_error", message)
    }

    /// 404 for an unknown checkout (or one owned by another key).
    pub(crate) fn checkout_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "checkout_not_found",
            "Checkout not found.",
        )
    }

    /// 429 injected by the `rate_limit` fault (the route adds `Retry-After`).
    pub(crate) fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests.",
        )
    }

    /// 500 injected by the `error_5xx` fault.
    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "An internal error occurred. Retry with the same idempotency key.",
        )
    }

    pub(crate) fn reply(&self) -> Reply {
        let m = self.message.as_ref();
        Reply::json(
            self.status,
            &json!({
                "errorCode": self.code,
                "errorMessage": m,
                "displayMessage": m,
                "description": m,
            }),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.reply().into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_the_four_fields() {
        let reply = ApiError::checkout_not_found().reply();
        let v: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
        for field in ["errorCode", "errorMessage", "displayMessage", "description"] {
            assert!(v[field].is_string(), "{field}");
        }
    }
}
