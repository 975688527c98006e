//! refundkit's log events in Python's `logging`, logger `refundkit`
//! (ADR 0019).
//!
//! The forwarding subscriber is installed when the module loads. Each call
//! reads the logger's effective level (one `getEffectiveLevel()`) on the
//! caller's thread, which holds the GIL, into core's atomic gate, so a
//! level change applies to the next call and a disabled level costs no
//! attach from a runtime thread.
//!
//! Where records are handed to Python:
//! - blocking calls run on the caller's thread, released from the GIL:
//!   the record is logged at once, attaching to Python as any other
//!   thread would;
//! - asyncio calls run on runtime threads, which never attach: their
//!   records are kept with the call and logged on the loop thread just
//!   before its future completes (in the order they happened).

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use pyo3::BoundObject;
use refundkit::log_forward::{self, Level, Record, Sink};

/// Fields whose values are numbers in Python.
const NUMERIC_FIELDS: [&str; 5] = ["attempt", "attempts", "status", "elapsed_ms", "delay_ms"];

tokio::task_local! {
    /// The records of the asyncio call running on this task.
    static CALL_RECORDS: RefCell<Vec<Record>>;
}

/// Installs the forwarding subscriber (at module load).
pub fn install() {
    log_forward::install(Arc::new(PythonLogging));
}

/// Reads the `refundkit` logger's level into the gate: call at the start
/// of every refund, with the GIL held. One `getEffectiveLevel()` call; the
/// gate may be looser than `logging.disable()` or a disabled logger, which
/// [`emit`] still honours through `isEnabledFor` for each record.
pub fn refresh_level(py: Python<'_>) {
    let effective = logger(py).ok().flatten().and_then(|logger| {
        logger
            .call_method0("getEffectiveLevel")
            .and_then(|level| level.extract::<i64>())
            .ok()
    });
    log_forward::set_max_level(effective.and_then(lowest_enabled));
}

/// The most verbose of refundkit's levels that a logger whose effective
/// level is `effective` lets through, if any.
fn lowest_enabled(effective: i64) -> Option<Level> {
    [Level::Debug, Level::Info, Level::Warn, Level::Error]
        .into_iter()
        .find(|level| i64::from(python_level(*level)) >= effective)
}

/// Runs an asyncio call's `future`, keeping its records to log on the loop
/// thread with its outcome (see [`Logged`]).
pub async fn kept_with<F, T>(future: F) -> PyResult<Logged<T>>
where
    F: Future<Output = PyResult<T>>,
{
    CALL_RECORDS
        .scope(RefCell::new(Vec::new()), async {
            let outcome = future.await;
            let records = CALL_RECORDS.with(RefCell::take);
            Ok(Logged { records, outcome })
        })
        .await
}

/// A finished asyncio call and its records: converting it to Python (on
/// the loop thread) logs the records, then gives the outcome.
pub struct Logged<T> {
    records: Vec<Record>,
    outcome: PyResult<T>,
}

impl<'py, T> IntoPyObject<'py> for Logged<T>
where
    T: IntoPyObject<'py>,
{
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        for record in &self.records {
            emit(py, record);
        }
        self.outcome?
            .into_pyobject(py)
            .map(|object| object.into_any().into_bound())
            .map_err(Into::into)
    }
}

/// The sink: keeps an asyncio call's records with it, logs others at once.
struct PythonLogging;

impl Sink for PythonLogging {
    fn forward(&self, record: Record) {
        let mut record = Some(record);
        let kept = CALL_RECORDS.try_with(|records| {
            if let Some(record) = record.take() {
                records.borrow_mut().push(record);
            }
        });
        if kept.is_err() {
            if let Some(record) = record {
                // No attach while the interpreter shuts down: the record is dropped.
                Python::try_attach(|py| emit(py, &record));
            }
        }
    }
}

/// The `refundkit` logger, once the application has imported `logging`.
///
/// Until then nothing can have configured it, so refundkit does not import
/// `logging` itself (it costs an import of tens of milliseconds); the first
/// call after the import fetches the logger and attaches a `NullHandler`,
/// so that a library's records never reach stderr on their own.
fn logger(py: Python<'_>) -> PyResult<Option<&Bound<'_, PyAny>>> {
    static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    static MODULES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    if let Some(logger) = LOGGER.get(py) {
        return Ok(Some(logger.bind(py)));
    }
    let modules = MODULES.get_or_try_init(py, || {
        py.import("sys")?.getattr("modules").map(Bound::unbind)
    })?;
    if !modules.bind(py).contains("logging")? {
        return Ok(None);
    }
    LOGGER
        .get_or_try_init(py, || {
            let logging = py.import("logging")?;
            let logger = logging.call_method1("getLogger", ("refundkit",))?;
            logger.call_method1("addHandler", (logging.call_method0("NullHandler")?,))?;
            Ok::<_, PyErr>(logger.unbind())
        })
        .map(|logger| Some(logger.bind(py)))
}

fn python_level(level: Level) -> u8 {
    match level {
        Level::Debug => 10,
        Level::Info => 20,
        Level::Warn => 30,
        Level::Error => 40,
    }
}

/// `logger.log(level, "message name=value …", extra={fields})`; a failure
/// to log never fails the call.
fn emit(py: Python<'_>, record: &Record) {
    let logged = (|| -> PyResult<()> {
        let Some(logger) = logger(py)? else {
            return Ok(());
        };
        let level = python_level(record.level);
        if !logger.call_method1("isEnabledFor", (level,))?.is_truthy()? {
            return Ok(());
        }
        let extra = PyDict::new(py);
        for (name, value) in &record.fields {
            match value.parse::<u64>() {
                Ok(number) if NUMERIC_FIELDS.contains(name) => extra.set_item(name, number)?,
                _ => extra.set_item(name, value)?,
            }
        }
        let kwargs = PyDict::new(py);
        kwargs.set_item("extra", extra)?;
        logger.call_method("log", (level, record.line()), Some(&kwargs))?;
        Ok(())
    })();
    if let Err(error) = logged {
        error.write_unraisable(py, None);
    }
}
