//! `TestEmulator`: the in-process emulator behind `refundkit.testing`,
//! running on the binding's shared runtime. Type conversion of
//! `refundkit_emulator::TestEmulator` only.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use refundkit_emulator::{Refused, TestEmulator as Inner};

use crate::error::to_py_err;
use crate::runtime;

/// The native half of `refundkit.testing.Emulator`; use that class instead.
#[pyclass(frozen, module = "refundkit._native")]
pub struct TestEmulator {
    inner: Mutex<Option<Inner>>,
    url: String,
    port: u16,
    secret_key: String,
}

fn refused(e: Refused) -> PyErr {
    PyValueError::new_err(e.to_string())
}

impl TestEmulator {
    /// Runs `call` on the emulator, unless it was closed.
    fn with<T>(&self, call: impl FnOnce(&Inner) -> T) -> PyResult<T> {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        guard
            .as_ref()
            .map(call)
            .ok_or_else(|| PyRuntimeError::new_err("the emulator is closed"))
    }
}

#[pymethods]
impl TestEmulator {
    #[new]
    fn new(py: Python<'_>, webhook_time_scale: f64) -> PyResult<Self> {
        let inner = runtime::block_on_detached(py, Inner::start(webhook_time_scale))?
            .map_err(|e| PyOSError::new_err(format!("cannot start the emulator: {e}")))?;
        Ok(Self {
            url: inner.url(),
            port: inner.port(),
            secret_key: inner.secret_key().to_owned(),
            inner: Mutex::new(Some(inner)),
        })
    }

    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    #[getter]
    fn secret_key(&self) -> &str {
        &self.secret_key
    }

    #[pyo3(signature = (amount, metadata = None))]
    fn paid_checkout(
        &self,
        amount: i64,
        metadata: Option<BTreeMap<String, String>>,
    ) -> PyResult<String> {
        self.with(|e| e.paid_checkout(amount, metadata))?
            .map_err(refused)
    }

    #[pyo3(signature = (checkout_id = None))]
    fn refunds(&self, checkout_id: Option<&str>) -> PyResult<Vec<LedgerRefund>> {
        let rows = self.with(|e| e.refunds(checkout_id))?;
        Ok(rows.into_iter().map(LedgerRefund::from).collect())
    }

    /// Sets the faults from their JSON object; answers them as JSON.
    fn set_faults(&self, faults_json: &str) -> PyResult<String> {
        let faults = refundkit_emulator::Faults::from_json(faults_json.as_bytes())
            .map_err(|e| PyValueError::new_err(format!("invalid faults: {e}")))?;
        self.with(|e| e.set_faults(faults))?.map_err(refused)?;
        self.faults_json()
    }

    /// The current faults, as JSON.
    fn faults_json(&self) -> PyResult<String> {
        let faults = self.with(Inner::faults)?;
        serde_json::to_string(&faults).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    fn register_webhook(&self, url: &str, name: &str) -> PyResult<WebhookSubscription> {
        let sub = self
            .with(|e| e.register_webhook(name, url))?
            .map_err(refused)?;
        Ok(WebhookSubscription {
            id: sub.id,
            url: sub.url,
            secret: sub.secret,
        })
    }

    fn deliveries(&self, py: Python<'_>) -> PyResult<Vec<Delivery>> {
        let log = self.with(Inner::deliveries)?;
        Ok(log.into_iter().map(|d| Delivery::new(py, d)).collect())
    }

    fn wait_for_deliveries(
        &self,
        py: Python<'_>,
        event_type: Option<String>,
        count: usize,
        timeout: f64,
    ) -> PyResult<Vec<Delivery>> {
        let limit = refundkit::validate::seconds("timeout", timeout).map_err(to_py_err)?;
        let wanted = event_type.clone().unwrap_or_else(|| "any type".to_owned());
        let waiting = self.with(|e| e.wait_for_deliveries(event_type, count, limit))?;
        match runtime::block_on_detached(py, waiting)? {
            Some(log) => Ok(log.into_iter().map(|d| Delivery::new(py, d)).collect()),
            None => Err(PyTimeoutError::new_err(format!(
                "fewer than {count} deliveries of {wanted} within {timeout} s"
            ))),
        }
    }

    fn reset(&self) -> PyResult<()> {
        self.with(Inner::reset)
    }

    /// Stops the server (gracefully, up to 10 s); the port is free once
    /// this returns. Closing twice is allowed.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let taken = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match taken {
            Some(inner) => runtime::block_on_detached(py, inner.shutdown()),
            None => Ok(()),
        }
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }
}

/// A refund the emulator actually made (one row of its ledger).
#[pyclass(frozen, get_all, module = "refundkit.testing")]
pub struct LedgerRefund {
    refund_id: String,
    checkout_id: String,
    payment_id: Option<String>,
    amount: i64,
    currency: String,
    status: String,
    mode: String,
    idempotency_key: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    created_date: String,
}

impl From<refundkit_emulator::LedgerRefund> for LedgerRefund {
    fn from(r: refundkit_emulator::LedgerRefund) -> Self {
        Self {
            refund_id: r.refund_id,
            checkout_id: r.checkout_id,
            payment_id: r.payment_id,
            amount: r.amount,
            currency: r.currency.to_owned(),
            status: r.status.to_owned(),
            mode: r.mode.to_owned(),
            idempotency_key: r.idempotency_key,
            metadata: r.metadata,
            created_date: r.created_date,
        }
    }
}

#[pymethods]
impl LedgerRefund {
    fn __repr__(&self) -> String {
        format!(
            "LedgerRefund(refund_id={:?}, checkout_id={:?}, amount={}, status={:?}, idempotency_key={})",
            self.refund_id,
            self.checkout_id,
            self.amount,
            self.status,
            or_none(self.idempotency_key.as_deref()),
        )
    }
}

/// A webhook subscription; `secret` is what `WebhookVerifier` needs.
#[pyclass(frozen, get_all, module = "refundkit.testing")]
pub struct WebhookSubscription {
    id: String,
    url: String,
    secret: String,
}

#[pymethods]
impl WebhookSubscription {
    fn __repr__(&self) -> String {
        format!("WebhookSubscription(id={:?}, url={:?})", self.id, self.url)
    }
}

/// One webhook delivery attempt: where, how it ended, and the signed
/// request (`headers`, `body`) to give to `WebhookVerifier.verify`.
#[pyclass(frozen, get_all, module = "refundkit.testing")]
pub struct Delivery {
    webhook_id: String,
    subscription_id: String,
    event_type: String,
    url: String,
    attempt: usize,
    status: Option<u16>,
    error: Option<String>,
    timestamp: i64,
    headers: Py<PyDict>,
    body: Py<PyBytes>,
}

impl Delivery {
    fn new(py: Python<'_>, d: refundkit_emulator::Delivery) -> Self {
        let headers = PyDict::new(py);
        for (name, value) in &d.headers {
            // Setting a str key to a str value cannot fail.
            let _ = headers.set_item(name, value);
        }
        Self {
            webhook_id: d.webhook_id,
            subscription_id: d.subscription_id,
            event_type: d.event_type.to_owned(),
            url: d.url,
            attempt: d.attempt,
            status: d.status,
            error: d.error,
            timestamp: d.timestamp,
            headers: headers.unbind(),
            body: PyBytes::new(py, &d.body).unbind(),
        }
    }
}

#[pymethods]
impl Delivery {
    fn __repr__(&self) -> String {
        format!(
            "Delivery(webhook_id={:?}, event_type={:?}, url={:?}, attempt={}, status={})",
            self.webhook_id,
            self.event_type,
            self.url,
            self.attempt,
            self.status
                .map_or_else(|| "None".to_owned(), |s| s.to_string()),
        )
    }
}

/// An optional text as Python shows it: quoted, or `None`.
fn or_none(text: Option<&str>) -> String {
    text.map_or_else(|| "None".to_owned(), |t| format!("{t:?}"))
}
