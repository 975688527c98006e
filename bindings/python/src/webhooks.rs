//! `WebhookVerifier` and `WebhookEvent`: Python headers and body in, a
//! verified event out.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString};
use serde_json::Value;

use crate::client::default_seconds;
use crate::error::to_py_err;
use crate::runtime;

/// Verifies Standard Webhooks signatures and parses the events.
///
/// `secret` is one `whsec_…` secret, or a sequence of them while rotating.
/// `tolerance` is how many seconds `webhook-timestamp` may be from now.
#[pyclass(frozen, module = "refundkit", name = "WebhookVerifier")]
pub struct WebhookVerifier {
    inner: refundkit::WebhookVerifier,
    secrets: usize,
}

#[pymethods]
impl WebhookVerifier {
    #[new]
    #[pyo3(signature = (secret, tolerance = default_seconds(refundkit::defaults::WEBHOOK_TOLERANCE)))]
    fn new(secret: &Bound<'_, PyAny>, tolerance: f64) -> PyResult<Self> {
        let secrets: Vec<PyBackedStr> = match secret.extract::<PyBackedStr>() {
            Ok(one) => vec![one],
            Err(_) => secret
                .try_iter()
                .and_then(|items| items.map(|s| s?.extract()).collect())
                .map_err(|_| PyTypeError::new_err("secret must be a str or a sequence of str"))?,
        };
        let tolerance = refundkit::validate::seconds("tolerance", tolerance).map_err(to_py_err)?;
        let inner = refundkit::WebhookVerifier::with_secrets(secrets.iter().map(|s| &**s))
            .map_err(to_py_err)?
            .tolerance(tolerance);
        Ok(Self {
            inner,
            secrets: secrets.len(),
        })
    }

    /// Verifies one delivery and returns its event.
    ///
    /// `headers` is any mapping of header names to values (names compare
    /// case-insensitively) or an iterable of `(name, value)` pairs. `body`
    /// is the raw body as received. `now` (Unix seconds) replaces the clock.
    /// Raises `WebhookVerificationError` with the reason.
    #[pyo3(signature = (headers, body, *, now = None))]
    fn verify(
        &self,
        py: Python<'_>,
        headers: &Bound<'_, PyAny>,
        body: &Bound<'_, PyAny>,
        now: Option<i64>,
    ) -> PyResult<WebhookEvent> {
        let headers = header_pairs(headers)?;
        let body = Body::extract(body)?;
        let verified = runtime::run_detached(py, body.as_bytes().len(), || {
            let pairs = headers.iter().map(|(name, value)| (&**name, &**value));
            match now {
                Some(now) => self.inner.verify_at(pairs, body.as_bytes(), now),
                None => self.inner.verify(pairs, body.as_bytes()),
            }
        });
        verified.map(WebhookEvent::from).map_err(to_py_err)
    }

    fn __repr__(&self) -> String {
        format!(
            "refundkit.WebhookVerifier(secrets={}, tolerance={})",
            self.secrets,
            self.inner.tolerance_value().as_secs_f64()
        )
    }
}

/// Header pairs from a mapping (via `.items()`) or an iterable of pairs.
fn header_pairs(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(PyBackedStr, PyBackedStr)>> {
    let bad = |_| PyTypeError::new_err("headers must map str names to str values");
    if let Ok(dict) = headers.cast::<PyDict>() {
        return dict
            .iter()
            .map(|(k, v)| Ok((k.extract().map_err(bad)?, v.extract().map_err(bad)?)))
            .collect();
    }
    let items = if headers.hasattr("items")? {
        headers.call_method0("items")?
    } else {
        headers.clone()
    };
    items
        .try_iter()?
        .map(|item| item?.extract().map_err(bad))
        .collect()
}

/// Why a parsed body cannot be verified, and where frameworks keep the raw one.
const PARSED_BODY_HELP: &str = "a body already parsed as JSON and serialised again no \
longer matches its signature. Pass the bytes as received (Flask: request.get_data(); \
FastAPI/Starlette: await request.body(); Django: request.body)";

/// The raw body: `bytes`, `bytearray` or `str` (verified as UTF-8).
enum Body {
    Bytes(PyBackedBytes),
    Text(PyBackedStr),
}

impl Body {
    fn extract(body: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(bytes) = body.extract::<PyBackedBytes>() {
            return Ok(Self::Bytes(bytes));
        }
        if let Ok(text) = body.extract::<PyBackedStr>() {
            return Ok(Self::Text(text));
        }
        let kind = body
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        let parsed = body.is_instance_of::<PyDict>() || body.is_instance_of::<PyList>();
        Err(PyTypeError::new_err(if parsed {
            format!("body must be the raw request bytes, not a {kind}: {PARSED_BODY_HELP}")
        } else {
            format!("body must be the raw request bytes (bytes, bytearray or str), not {kind}")
        }))
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Bytes(b) => b,
            Self::Text(s) => s.as_bytes(),
        }
    }
}

/// A verified webhook event. Fields absent from the payload are `None`.
///
/// `refund_id` and `failure_reason` are set for `refund.*` events;
/// `checkout_id`, `amount`, `status`, `currency`, `mode` for refund and
/// payment events; `payment_id` for both (the payment refunded or made).
#[pyclass(frozen, module = "refundkit", name = "WebhookEvent")]
pub struct WebhookEvent {
    event: refundkit::WebhookEvent,
    payload: PyOnceLock<Py<PyAny>>,
}

impl From<refundkit::WebhookEvent> for WebhookEvent {
    fn from(event: refundkit::WebhookEvent) -> Self {
        Self {
            event,
            payload: PyOnceLock::new(),
        }
    }
}

#[pymethods]
impl WebhookEvent {
    /// The event id (`evt_…`).
    #[getter]
    fn id(&self) -> &str {
        &self.event.id
    }

    /// The `webhook-id` header: deduplicate deliveries on this.
    #[getter]
    fn webhook_id(&self) -> &str {
        &self.event.webhook_id
    }

    /// The event type, e.g. `refund.succeeded`.
    #[getter]
    #[pyo3(name = "type")]
    fn event_type(&self) -> &str {
        &self.event.event_type
    }

    /// `createdDate`, as sent.
    #[getter]
    fn created_date(&self) -> Option<&str> {
        self.event.created_date.as_deref()
    }

    /// The raw `payload` object as `json.loads` would give it (the same
    /// dict on every access; empty when the event has no payload).
    #[getter]
    fn payload(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.payload
            .get_or_try_init(py, || match &self.event.payload {
                Value::Null => Ok(PyDict::new(py).into_any().unbind()),
                payload => json_to_py(py, payload).map(Bound::unbind),
            })
            .map(|p| p.clone_ref(py))
    }

    /// The refund (`rfd_…`) of a `refund.*` event.
    #[getter]
    fn refund_id(&self) -> Option<&str> {
        self.event.refund().and_then(|r| r.refund_id.as_deref())
    }

    /// The checkout refunded or paid (`ch_…`).
    #[getter]
    fn checkout_id(&self) -> Option<&str> {
        self.event.checkout_id()
    }

    /// The payment refunded or made (`p_…`).
    #[getter]
    fn payment_id(&self) -> Option<&str> {
        self.event.payment_id()
    }

    /// Cents refunded by this refund, or paid.
    #[getter]
    fn amount(&self) -> Option<i64> {
        self.event.amount()
    }

    /// Currency code, e.g. `ZAR`.
    #[getter]
    fn currency(&self) -> Option<&str> {
        self.event.currency()
    }

    /// `succeeded` or `failed`.
    #[getter]
    fn status(&self) -> Option<&str> {
        self.event.status()
    }

    /// `live` or `test`.
    #[getter]
    fn mode(&self) -> Option<&str> {
        self.event.mode()
    }

    /// Why the refund failed (`refund.failed` only).
    #[getter]
    fn failure_reason(&self) -> Option<&str> {
        self.event
            .refund()
            .and_then(|r| r.failure_reason.as_deref())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let text = |s: &str| PyString::new(py, s).repr().map(|r| r.to_string());
        Ok(format!(
            "WebhookEvent(id={}, type={}, webhook_id={})",
            text(&self.event.id)?,
            text(&self.event.event_type)?,
            text(&self.event.webhook_id)?,
        ))
    }
}

/// A JSON value as the equivalent Python object (what `json.loads` gives).
fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            (None, None) => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(fields) => {
            let dict = PyDict::new(py);
            for (k, v) in fields {
                dict.set_item(k, json_to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}
