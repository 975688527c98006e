//! The one place a core [`refundkit::Error`] becomes a Python exception.
//!
//! The exception classes are plain Python classes in `refundkit._errors`;
//! its `_from_native` factory picks the class for the error's kind, fills in
//! every field and logs the (secret-free) text at DEBUG on the `refundkit`
//! logger. Core errors never contain the secret key, so nothing is scrubbed
//! here.

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use pyo3::PyErrArguments;

/// Converts a core error into a Python exception of the matching class.
///
/// The exception object is built lazily, when Python first needs it, so
/// this is safe to call on a runtime thread that does not hold the GIL.
pub fn to_py_err(error: refundkit::Error) -> PyErr {
    PyErr::new::<PyException, _>(PendingException(error))
}

struct PendingException(refundkit::Error);

impl PyErrArguments for PendingException {
    fn arguments(self, py: Python<'_>) -> Py<PyAny> {
        // Raising an exception instance as `Exception` raises that instance.
        match instantiate(py, &self.0) {
            Ok(exception) => exception.unbind(),
            Err(failure) => failure.into_value(py).into_any(),
        }
    }
}

fn instantiate<'py>(py: Python<'py>, error: &refundkit::Error) -> PyResult<Bound<'py, PyAny>> {
    static FACTORY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let factory = FACTORY.import(py, "refundkit._errors", "_from_native")?;
    let fields = PyDict::new(py);
    fields.set_item("kind", error.kind().as_str())?;
    fields.set_item("display", error.to_string())?;
    fields.set_item("field", error.field())?;
    fields.set_item("status", error.status())?;
    fields.set_item("error_code", error.error_code())?;
    fields.set_item("request_id", error.request_id())?;
    fields.set_item("idempotency_key", error.idempotency_key())?;
    fields.set_item("body", error.body())?;
    fields.set_item("retryable", error.is_retryable())?;
    fields.set_item("outcome_unknown", error.is_outcome_unknown())?;
    fields.set_item("attempts", error.attempts())?;
    fields.set_item("retry_after", error.retry_after().map(|d| d.as_secs_f64()))?;
    factory.call((error.message(),), Some(&fields))
}
