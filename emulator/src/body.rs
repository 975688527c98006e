//! Reading request bodies and the JSON object rules of the API.

use std::collections::BTreeMap;

use axum::body::Body;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Map, Value};

use crate::reply::ApiError;

/// Largest request body accepted **\[ours\]**.
pub(crate) const MAX_BODY_LEN: usize = 1 << 20;

/// Reads a whole body, refusing more than [`MAX_BODY_LEN`] bytes.
pub(crate) async fn read(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_LEN).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The request body must be a JSON object of at most {MAX_BODY_LEN} bytes."),
        )
    })
}

/// A request body: parsed JSON, or the raw bytes when it is not JSON.
#[derive(Debug)]
pub(crate) enum JsonBody {
    /// Valid JSON (not necessarily an object); an empty body is `{}`.
    Json(Value),
    /// Anything else.
    Invalid(Bytes),
}

impl JsonBody {
    /// Parses `bytes`. An empty body (no bytes at all) means `{}`: the
    /// guide's own curl sample and the provider's WooCommerce plugin send
    /// no body for a full refund (API.md), so the two are the same request,
    /// idempotency included.
    pub(crate) fn parse(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            return Self::Json(Value::Object(Map::new()));
        }
        match serde_json::from_slice(&bytes) {
            Ok(v) => Self::Json(v),
            Err(_) => Self::Invalid(bytes),
        }
    }

    /// The body as a JSON object, or 400.
    pub(crate) fn object(&self) -> Result<&Map<String, Value>, ApiError> {
        match self {
            Self::Json(Value::Object(map)) => Ok(map),
            _ => Err(ApiError::validation(
                "The request body must be a JSON object (or empty, which means {}).",
            )),
        }
    }

    /// Bytes that are equal exactly when the bodies are equal as parsed
    /// JSON (object keys sorted), or as raw bytes when not JSON.
    pub(crate) fn write_canonical(&self, out: &mut Vec<u8>) {
        match self {
            Self::Json(v) => {
                out.push(b'j');
                write_canonical(v, out);
            }
            Self::Invalid(raw) => {
                out.push(b'r');
                out.extend_from_slice(raw);
            }
        }
    }
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(k.clone()), out);
                out.push(b':');
                write_canonical(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(v: &Value, out: &mut Vec<u8>) {
    // Serialising a scalar into a Vec cannot fail.
    let _ = serde_json::to_writer(out, v);
}

/// An optional field holding an object of string to string, or 400 naming it.
pub(crate) fn string_map(
    obj: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<BTreeMap<String, String>>, ApiError> {
    let bad = || ApiError::validation(format!("{field} must be an object of string to string."));
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|s| (k.clone(), s.to_owned()))
                    .ok_or_else(bad)
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(bad()),
    }
}

/// An optional integer field, or 400 naming it.
pub(crate) fn integer(
    obj: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<i64>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            ApiError::validation(format!("{field} must be an integer number of cents."))
        }),
    }
}

/// An optional string field, or 400 naming it.
pub(crate) fn string<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::validation(format!("{field} must be a string."))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        JsonBody::parse(Bytes::copy_from_slice(text.as_bytes())).write_canonical(&mut out);
        out
    }

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        assert_eq!(
            canonical(r#"{"amount": 5, "metadata": {"b":"2","a":"1"}}"#),
            canonical(r#"{"metadata":{"a":"1","b":"2"},"amount":5}"#)
        );
    }

    #[test]
    fn different_values_differ() {
        assert_ne!(canonical(r#"{"amount":5}"#), canonical(r#"{"amount":6}"#));
        assert_ne!(canonical("[]"), canonical("{}"));
    }

    #[test]
    fn an_empty_body_is_the_same_request_as_an_empty_object() {
        assert_eq!(canonical(""), canonical("{}"));
        assert_ne!(canonical(" "), canonical("{}"));
    }
}
