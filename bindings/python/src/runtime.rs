//! The one tokio runtime behind both clients, and the two ways Python waits
//! on it: blocking with the GIL released, or through an asyncio awaitable.
//!
//! The runtime is core's [`refundkit::blocking::shared_runtime`], created on
//! first use (not at import, so a process that forks before its first
//! refund gives the child a working runtime) and registered with
//! pyo3-async-runtimes so awaitables run on the same two I/O threads.

use std::future::Future;
use std::sync::Once;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::error;

/// How often a blocked call wakes to let Python run signal handlers, so
/// Ctrl-C interrupts a long refund instead of waiting for its timeout.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// The shared runtime, registered with pyo3-async-runtimes on first use.
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static REGISTER: Once = Once::new();
    let runtime = refundkit::blocking::shared_runtime().map_err(error::to_py_err)?;
    REGISTER.call_once(|| {
        // Err means it was registered already, which is what we want.
        let _ = pyo3_async_runtimes::tokio::init_with_runtime(runtime);
    });
    Ok(runtime)
}

/// Releases the GIL and blocks the calling thread on `future`.
///
/// Other Python threads run meanwhile. Every 100 ms the thread re-attaches
/// briefly to run signal handlers; if one raises (Ctrl-C raises
/// `KeyboardInterrupt`), `future` is dropped and that exception returned.
pub fn block_on_detached<F, T>(py: Python<'_>, future: F) -> PyResult<T>
where
    F: Future<Output = T> + Send,
    T: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(PyRuntimeError::new_err(
            "a blocking refundkit call was made from inside its I/O runtime",
        ));
    }
    let runtime = runtime()?;
    py.detach(|| {
        runtime.block_on(async {
            let mut future = std::pin::pin!(future);
            loop {
                tokio::select! {
                    biased;
                    output = &mut future => return Ok(output),
                    () = tokio::time::sleep(SIGNAL_CHECK_INTERVAL) => {
                        Python::attach(|py| py.check_signals())?;
                    }
                }
            }
        })
    })
}

/// Releases the GIL while `work` runs (CPU-bound work on caller data).
pub fn run_detached<F, T>(py: Python<'_>, work: F) -> T
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    py.detach(work)
}

/// Runs `future` on the shared runtime and returns an asyncio future for
/// the current event loop. Cancelling the asyncio future drops `future`.
pub fn awaitable<'py, F, T>(py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    runtime()?;
    pyo3_async_runtimes::tokio::future_into_py(py, future)
}
