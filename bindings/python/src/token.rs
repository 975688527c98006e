//! Token mode: a Python callable as the core's token provider.
//!
//! The callable is `provider(force_refresh: bool) -> str`. `AsyncClient`'s
//! Python layer turns an async provider's coroutine into a
//! `concurrent.futures.Future` running on the caller's event loop; this
//! module awaits such a future without blocking a runtime thread. Calling
//! the provider attaches a runtime thread to Python for the duration of the
//! call (token mode only; secret-key clients never do).

use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use tokio::sync::oneshot;

/// What a provider's future delivers: the token, or why there is none.
type Delivered = Result<String, String>;

/// The core's [`refundkit::TokenProvider`] over a Python callable.
pub struct PyTokenProvider {
    callable: Arc<Py<PyAny>>,
}

impl PyTokenProvider {
    pub fn new(callable: Py<PyAny>) -> Self {
        Self {
            callable: Arc::new(callable),
        }
    }
}

fn provider_failed(why: impl std::fmt::Display) -> refundkit::Error {
    refundkit::Error::new(
        refundkit::ErrorKind::Authentication,
        format!("the token provider failed: {why}"),
    )
}

/// `TypeName: message` of a Python exception, for an error text.
fn describe(py: Python<'_>, error: &PyErr) -> String {
    let name = error
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".to_owned());
    format!("{name}: {}", error.value(py))
}

impl refundkit::TokenProvider for PyTokenProvider {
    fn token(&self, force_refresh: bool) -> refundkit::TokenFuture {
        let callable = Arc::clone(&self.callable);
        Box::pin(async move {
            let (sender, receiver) = oneshot::channel::<Delivered>();
            let now = Python::attach(|py| -> Result<Option<String>, String> {
                let result = callable
                    .call1(py, (force_refresh,))
                    .map_err(|e| describe(py, &e))?;
                let result = result.bind(py);
                if let Ok(token) = result.extract::<String>() {
                    return Ok(Some(token));
                }
                if result.hasattr("add_done_callback").unwrap_or(false) {
                    let delivery = TokenDelivery(Mutex::new(Some(sender)));
                    result
                        .call_method1("add_done_callback", (delivery,))
                        .map_err(|e| describe(py, &e))?;
                    return Ok(None);
                }
                let type_name = result
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                Err(format!(
                    "it returned {type_name}, not a str (an async provider needs AsyncClient)"
                ))
            })
            .map_err(provider_failed)?;
            match now {
                Some(token) => Ok(token),
                None => receiver
                    .await
                    .map_err(|_| provider_failed("its future was dropped"))?
                    .map_err(provider_failed),
            }
        })
    }
}

/// The done-callback of a provider's `concurrent.futures.Future`: hands
/// the token (or the failure) to the waiting refund.
#[pyclass(frozen, module = "refundkit._native")]
struct TokenDelivery(Mutex<Option<oneshot::Sender<Delivered>>>);

#[pymethods]
impl TokenDelivery {
    fn __call__(&self, py: Python<'_>, future: &Bound<'_, PyAny>) {
        let delivered = match future.call_method0("result") {
            Ok(value) => value
                .extract::<String>()
                .map_err(|_| "its coroutine returned something other than a str".to_owned()),
            Err(error) => Err(describe(py, &error)),
        };
        let sender = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(sender) = sender {
            // The refund may have been abandoned meanwhile; nothing waits then.
            let _ = sender.send(delivered);
        }
    }
}
