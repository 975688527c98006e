//! `Refund`: the immutable result of a refund call.

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::error::to_py_err;

/// An accepted refund. Immutable and hashable; equal when every field is.
///
/// `status` is the service's word (`successful`, `succeeded`, `pending` or
/// any other value, kept as sent). The final outcome arrives as a
/// `refund.succeeded` or `refund.failed` webhook.
#[pyclass(frozen, eq, hash, module = "refundkit", name = "Refund")]
#[derive(PartialEq, Eq, Hash)]
pub struct Refund(refundkit::Refund);

impl From<refundkit::Refund> for Refund {
    fn from(refund: refundkit::Refund) -> Self {
        Self(refund)
    }
}

#[pymethods]
impl Refund {
    /// Builds a `Refund` by hand, e.g. for a fake client in tests.
    #[new]
    #[pyo3(signature = (*, checkout_id, refund_id, status, idempotency_key, message = None, replayed = false, attempts = 1, request_id = None, elapsed = 0.0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        checkout_id: String,
        refund_id: String,
        status: &str,
        idempotency_key: String,
        message: Option<String>,
        replayed: bool,
        attempts: u32,
        request_id: Option<String>,
        elapsed: f64,
    ) -> PyResult<Self> {
        let elapsed = refundkit::validate::seconds("elapsed", elapsed).map_err(to_py_err)?;
        Ok(Self(refundkit::Refund {
            checkout_id,
            refund_id,
            status: refundkit::RefundStatus::parse(status),
            message,
            idempotency_key,
            replayed,
            attempts,
            request_id,
            elapsed,
        }))
    }

    /// The refunded checkout (`ch_…`).
    #[getter]
    fn checkout_id(&self) -> &str {
        &self.0.checkout_id
    }

    /// The refund (`rfd_…`); webhooks carry the same id.
    #[getter]
    fn refund_id(&self) -> &str {
        &self.0.refund_id
    }

    /// The status the service reported, as sent.
    #[getter]
    fn status(&self) -> &str {
        self.0.status.as_str()
    }

    /// Whether `status` says the refund was made (`successful` or
    /// `succeeded`); `pending`, `failed` and anything else are not.
    #[getter]
    fn succeeded(&self) -> bool {
        self.0.status.is_success()
    }

    /// The service's message, e.g. `Your refund has been processed`.
    #[getter]
    fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }

    /// The idempotency key actually sent: persist it to retry safely.
    #[getter]
    fn idempotency_key(&self) -> &str {
        &self.0.idempotency_key
    }

    /// Whether the service replayed an earlier answer for this key.
    #[getter]
    fn replayed(&self) -> bool {
        self.0.replayed
    }

    /// How many HTTP attempts the call made.
    #[getter]
    fn attempts(&self) -> u32 {
        self.0.attempts
    }

    /// The service's request id, when it sent one.
    #[getter]
    fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    /// Seconds from the first attempt's start to the answer, backoff included.
    #[getter]
    fn elapsed(&self) -> f64 {
        self.0.elapsed.as_secs_f64()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let r = &self.0;
        let text = |s: &str| PyString::new(py, s).repr().map(|r| r.to_string());
        Ok(format!(
            "Refund(checkout_id={}, refund_id={}, status={}, succeeded={}, replayed={}, attempts={}, idempotency_key={})",
            text(&r.checkout_id)?,
            text(&r.refund_id)?,
            text(r.status.as_str())?,
            if r.status.is_success() { "True" } else { "False" },
            if r.replayed { "True" } else { "False" },
            r.attempts,
            text(&r.idempotency_key)?,
        ))
    }
}
