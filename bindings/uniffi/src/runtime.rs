//! The one tokio runtime every call of this binding runs on.
//!
//! Foreign executors (Kotlin coroutines, Swift tasks) poll UniFFI futures
//! on their own threads, where no tokio reactor exists, and reqwest needs
//! one. So every call is spawned onto this runtime and only the join handle
//! is awaited by the foreign side; blocking calls wait on a channel. Either
//! way no call can fail with "no reactor running", and a panic inside a task
//! comes back as `RefundError::Internal` instead of crossing the FFI.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use tokio::runtime::Runtime;
use tokio::task::{JoinError, JoinHandle};

use crate::error::RefundError;

/// The shared multi-threaded runtime, started on first use.
fn shared() -> Result<&'static Runtime, RefundError> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .thread_name("refundkit-uniffi")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| RefundError::internal(format!("cannot start the refundkit runtime: {e}")))
}

/// Runs `task` on the shared runtime; the returned future may be awaited
/// from any executor. Dropping it (a cancelled coroutine or task) aborts
/// the work, as dropping a Rust future would.
pub(crate) async fn spawn<T, F>(task: F) -> Result<T, RefundError>
where
    F: Future<Output = Result<T, RefundError>> + Send + 'static,
    T: Send + 'static,
{
    let handle = AbortOnDrop(shared()?.spawn(task));
    handle.await.unwrap_or_else(|e| Err(join_failure(e)))
}

/// Runs `task` on the shared runtime and blocks the calling thread until it
/// ends. Safe from any thread, including one inside another runtime.
pub(crate) fn block_on<T, F>(task: F) -> Result<T, RefundError>
where
    F: Future<Output = Result<T, RefundError>> + Send + 'static,
    T: Send + 'static,
{
    let (done, result) = std::sync::mpsc::sync_channel(1);
    shared()?.spawn(async move {
        // The receiver only goes away if the caller's thread died.
        let _ = done.send(task.await);
    });
    result.recv().unwrap_or_else(|_| {
        Err(RefundError::internal(
            "the refund task stopped without an answer (a bug in refundkit)",
        ))
    })
}

fn join_failure(e: JoinError) -> RefundError {
    if e.is_panic() {
        RefundError::internal("the refund task panicked (a bug in refundkit)")
    } else {
        RefundError::internal("the refund task was cancelled")
    }
}

/// A join handle that aborts its task when dropped before completion.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_works_inside_another_runtime() {
        let outer = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let got = outer.block_on(async { block_on(async { Ok::<_, RefundError>(7) }) });
        assert_eq!(got, Ok(7));
    }

    #[test]
    fn a_panicking_task_becomes_an_internal_error() {
        let got: Result<(), RefundError> = futures_lite_block_on(spawn(async { panic!("boom") }));
        assert_eq!(got.map_err(|e| e.kind()), Err("internal".to_owned()));
    }

    #[test]
    fn spawned_tasks_have_a_reactor_without_the_caller_having_one() {
        let got = futures_lite_block_on(spawn(async {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            Ok::<_, RefundError>("slept")
        }));
        assert_eq!(got, Ok("slept"));
    }

    /// Polls a future on this thread with no tokio context, as a foreign
    /// executor would.
    fn futures_lite_block_on<F: Future>(f: F) -> F::Output {
        let (tx, rx) = std::sync::mpsc::channel();
        let waker =
            std::task::Waker::from(std::sync::Arc::new(ThreadWaker(std::sync::Mutex::new(tx))));
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            let _ = rx.recv();
        }
    }

    struct ThreadWaker(std::sync::Mutex<std::sync::mpsc::Sender<()>>);

    impl std::task::Wake for ThreadWaker {
        fn wake(self: std::sync::Arc<Self>) {
            if let Ok(tx) = self.0.lock() {
                let _ = tx.send(());
            }
        }
    }
}
