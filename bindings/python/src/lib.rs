//! `refundkit._native`: the Python face of the `refundkit` core crate.
//!
//! Type conversion only. Behaviour (validation, retries, parsing, webhook
//! checks) lives in core; `error` is the one place a core error becomes a
//! Python exception, and `runtime` the one place Python waits on tokio.
//! The public package `refundkit` (Python) re-exports these classes and
//! adds `AsyncClient` and the exception hierarchy.

// pyo3's macros expand to `unsafe` FFI glue; this crate writes none itself.
#![allow(unsafe_code)]

mod client;
mod emulator;
mod error;
mod logging;
mod refund;
mod runtime;
mod token;
mod webhooks;

use pyo3::prelude::*;

/// Native core of the refundkit package. Import `refundkit`, not this module.
#[pymodule(name = "_native")]
mod native {
    use pyo3::prelude::*;

    #[pymodule_export]
    use super::client::{AsyncClient, Client};
    #[pymodule_export]
    use super::emulator::{Delivery, LedgerRefund, TestEmulator, WebhookSubscription};
    #[pymodule_export]
    use super::refund::Refund;
    #[cfg(unix)]
    #[pymodule_export]
    use super::runtime::LoopBridge;
    #[pymodule_export]
    use super::webhooks::{WebhookEvent, WebhookVerifier};

    /// A fresh idempotency key (a UUIDv4), as the clients make when none is given.
    #[pyfunction]
    fn new_idempotency_key() -> String {
        refundkit::policy::new_idempotency_key()
    }

    /// A deterministic idempotency key (a UUIDv5) for `parts` within
    /// `namespace`: the same arguments give the same key in every language,
    /// so a retry after a restart replays instead of refunding twice.
    #[pyfunction]
    #[pyo3(signature = (namespace, *parts))]
    fn idempotency_key_for(namespace: &str, parts: Vec<String>) -> PyResult<String> {
        refundkit::idempotency_key_for(namespace, &parts).map_err(crate::error::to_py_err)
    }

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        use refundkit::defaults as d;
        crate::logging::install();
        m.add("__version__", refundkit::VERSION)?;
        // The core's defaults, for the Python layer's own signatures.
        m.add("DEFAULT_BASE_URL", d::BASE_URL)?;
        m.add("DEFAULT_MAX_RETRIES", d::MAX_RETRIES)?;
        m.add("DEFAULT_TIMEOUT", d::TIMEOUT.as_secs_f64())?;
        m.add("DEFAULT_TOTAL_TIMEOUT", d::TOTAL_TIMEOUT.as_secs_f64())?;
        m.add(
            "DEFAULT_WEBHOOK_TOLERANCE",
            d::WEBHOOK_TOLERANCE.as_secs_f64(),
        )
    }
}
