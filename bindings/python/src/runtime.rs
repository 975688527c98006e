//! The one tokio runtime behind both clients, and the ways Python waits on
//! it: blocking with the GIL released, or through an asyncio future.
//!
//! Runtime threads never attach to Python on the asyncio path: a finished
//! call is queued in its event loop's [`LoopBridge`] and a byte written to a
//! socket that loop watches; the loop thread then sets the future. (Threads
//! that attach on their own can race with interpreter shutdown and abort
//! the process.) Loops that cannot watch a socket (Windows' proactor) use
//! pyo3-async-runtimes, which attaches from a runtime thread to deliver.
//!
//! The runtime is core's [`refundkit::blocking::shared_runtime`], created on
//! first use (not at import, so a process that forks before its first
//! refund gives the child a working runtime) and registered with
//! pyo3-async-runtimes so awaitables run on the same two I/O threads.
//! Threads do not survive `fork()`: a child forked after the first call
//! gets an error instead of a call that would hang forever.

use std::cell::Cell;
use std::future::Future;
use std::sync::{Once, OnceLock};
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
    static STARTED_IN: OnceLock<u32> = OnceLock::new();
    let runtime = refundkit::blocking::shared_runtime().map_err(error::to_py_err)?;
    if *STARTED_IN.get_or_init(std::process::id) != std::process::id() {
        return Err(PyRuntimeError::new_err(
            "refundkit cannot be used in a process forked after its first call: \
             its I/O threads did not survive fork(). Make the first call in the \
             child (clients themselves may be created before the fork)",
        ));
    }
    REGISTER.call_once(|| {
        // Err means it was registered already, which is what we want.
        let _ = pyo3_async_runtimes::tokio::init_with_runtime(runtime);
    });
    Ok(runtime)
}

/// Releases the GIL and blocks the calling thread on `future`.
///
/// Other Python threads run meanwhile. On the main thread, the call wakes
/// every 100 ms to re-attach briefly and run signal handlers; if one raises
/// (Ctrl-C raises `KeyboardInterrupt`), `future` is dropped and that
/// exception returned. (Other threads never see signals, and never
/// re-attach early: one that did could meet interpreter shutdown.)
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
    if !on_main_thread(py)? {
        return Ok(py.detach(|| runtime.block_on(future)));
    }
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

/// Whether the calling thread is Python's main thread (asked once per thread).
fn on_main_thread(py: Python<'_>) -> PyResult<bool> {
    thread_local! {
        static ON_MAIN_THREAD: Cell<Option<bool>> = const { Cell::new(None) };
    }
    if let Some(known) = ON_MAIN_THREAD.with(Cell::get) {
        return Ok(known);
    }
    let threading = py.import("threading")?;
    let main = threading.call_method0("main_thread")?.getattr("ident")?;
    let known = main.eq(threading.call_method0("get_ident")?)?;
    ON_MAIN_THREAD.with(|cell| cell.set(Some(known)));
    Ok(known)
}

/// Inputs smaller than this are processed without releasing the GIL: the
/// work takes microseconds, and taking the GIL back from a busy thread can
/// take milliseconds.
const DETACH_THRESHOLD: usize = 64 * 1024;

/// Runs CPU-bound `work` over `input_len` bytes of caller data, releasing
/// the GIL when the input is large enough for that to pay off.
pub fn run_detached<F, T>(py: Python<'_>, input_len: usize, work: F) -> T
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    if input_len < DETACH_THRESHOLD {
        work()
    } else {
        py.detach(work)
    }
}

/// Runs `future` on the shared runtime and returns an asyncio future for
/// the current event loop, delivered by pyo3-async-runtimes (the fallback
/// for loops without `add_reader`). Cancelling it drops `future`.
pub fn awaitable<'py, F, T>(py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    runtime()?;
    pyo3_async_runtimes::tokio::future_into_py(py, future)
}

#[cfg(unix)]
pub use bridge::LoopBridge;

#[cfg(unix)]
mod bridge {
    use std::collections::HashMap;
    use std::future::Future;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

    use pyo3::prelude::*;
    use pyo3::types::{PyWeakrefMethods, PyWeakrefReference};
    use pyo3::IntoPyObjectExt;

    /// Turns a finished call's outcome into a Python object, on the loop thread.
    type Completion = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

    fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where runtime threads leave finished calls: a queue, and a doorbell
    /// rung when the queue stops being empty.
    struct Inbox {
        finished: Mutex<Vec<(u64, Completion)>>,
        doorbell: UnixStream,
    }

    impl Inbox {
        fn deliver(&self, call: u64, completion: Completion) {
            let was_empty = {
                let mut finished = lock(&self.finished);
                finished.push((call, completion));
                finished.len() == 1
            };
            if was_empty {
                // Non-blocking; a full socket already has a ring pending.
                let _ = (&self.doorbell).write(&[1]);
            }
        }
    }

    /// A call started from the loop, until it finishes or is cancelled.
    struct Pending {
        /// A weak reference: a future nobody awaits any more may go away.
        future: Py<PyWeakrefReference>,
        task: tokio::task::AbortHandle,
    }

    /// Hands calls finished on the runtime back to one asyncio event loop.
    ///
    /// Made once per loop by `refundkit.AsyncClient`, which registers
    /// `drain` with `loop.add_reader(bridge.fileno(), bridge.drain)`.
    #[pyclass(frozen, module = "refundkit._native")]
    pub struct LoopBridge {
        inbox: Arc<Inbox>,
        bell: UnixStream,
        pending: Mutex<HashMap<u64, Pending>>,
        next_call: AtomicU64,
    }

    impl LoopBridge {
        /// Runs `work` on the shared runtime; its outcome will complete
        /// `future` (an asyncio future of this bridge's loop). Returns the
        /// call's number, for [`LoopBridge::cancel`].
        pub fn start<F, T>(&self, future: &Bound<'_, PyAny>, work: F) -> PyResult<u64>
        where
            F: Future<Output = PyResult<T>> + Send + 'static,
            T: for<'py> IntoPyObject<'py> + Send + 'static,
        {
            let runtime = super::runtime()?;
            let weak = PyWeakrefReference::new(future)?.unbind();
            let call = self.next_call.fetch_add(1, Ordering::Relaxed);
            let inbox = Arc::clone(&self.inbox);
            let task = runtime.spawn(async move {
                let outcome = work.await;
                inbox.deliver(
                    call,
                    Box::new(move |py| outcome.and_then(|value| value.into_py_any(py))),
                );
            });
            // Only this loop's thread, which holds the GIL now, drains: the
            // entry is in place before the call can be seen as finished.
            lock(&self.pending).insert(
                call,
                Pending {
                    future: weak,
                    task: task.abort_handle(),
                },
            );
            Ok(call)
        }
    }

    /// Sets the result or exception of a call's future, if anyone still
    /// waits for it.
    fn complete(
        py: Python<'_>,
        future: &Py<PyWeakrefReference>,
        completion: Completion,
    ) -> PyResult<()> {
        let Some(future) = future.bind(py).upgrade() else {
            return Ok(()); // nobody is waiting any more
        };
        if future.call_method0("done")?.is_truthy()? {
            return Ok(());
        }
        match completion(py) {
            Ok(value) => future.call_method1("set_result", (value,))?,
            Err(error) => future.call_method1("set_exception", (error.into_value(py),))?,
        };
        Ok(())
    }

    #[pymethods]
    impl LoopBridge {
        #[new]
        fn new() -> PyResult<Self> {
            let (bell, doorbell) = UnixStream::pair()?;
            bell.set_nonblocking(true)?;
            doorbell.set_nonblocking(true)?;
            Ok(Self {
                inbox: Arc::new(Inbox {
                    finished: Mutex::new(Vec::new()),
                    doorbell,
                }),
                bell,
                pending: Mutex::new(HashMap::new()),
                next_call: AtomicU64::new(0),
            })
        }

        /// The socket to watch for reading.
        fn fileno(&self) -> i32 {
            self.bell.as_raw_fd()
        }

        /// Completes the futures of every finished call (the reader callback).
        fn drain(&self, py: Python<'_>) -> PyResult<()> {
            // Silence the bell before taking the queue, so that a call
            // finishing in between rings again.
            let mut sink = [0u8; 64];
            while matches!((&self.bell).read(&mut sink), Ok(n) if n > 0) {}
            let finished = std::mem::take(&mut *lock(&self.inbox.finished));
            let mut first_failure = None;
            for (call, completion) in finished {
                let Some(pending) = lock(&self.pending).remove(&call) else {
                    continue; // cancelled
                };
                if let Err(failure) = complete(py, &pending.future, completion) {
                    first_failure.get_or_insert(failure);
                }
            }
            first_failure.map_or(Ok(()), Err)
        }

        /// Abandons call `call` (its future was cancelled): the request is
        /// dropped wherever it is.
        fn cancel(&self, call: u64) {
            if let Some(pending) = lock(&self.pending).remove(&call) {
                pending.task.abort();
            }
        }
    }
}
