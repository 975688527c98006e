//! The tokio runtime the binding owns, and the one way JavaScript waits on
//! it: a promise settled when a future finishes on that runtime.
//!
//! The Node event loop never runs or waits for Rust I/O: a call spawns its
//! future here and returns a promise at once; the finished value is handed
//! back to the JavaScript thread through napi's threadsafe queue.

use std::future::Future;
use std::sync::OnceLock;

use napi::bindgen_prelude::{Object, ToNapiValue};
use napi::Env;

use crate::error;

/// I/O threads: refunds are network-bound, and the Node thread does the
/// JavaScript half of every call, so two threads keep up with it.
const WORKER_THREADS: usize = 2;

/// The runtime, started on the first refund.
pub(crate) fn runtime() -> refundkit::Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(WORKER_THREADS)
                .thread_name("refundkit-node-io")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| {
            refundkit::Error::new(
                refundkit::ErrorKind::Configuration,
                format!("cannot start the I/O runtime: {e}"),
            )
        })
}

/// Runs `future` on the binding's runtime and returns a promise of its
/// output. The promise always resolves; failures are part of `T`.
pub fn promise<'env, F, T>(env: &'env Env, future: F) -> napi::Result<Object<'env>>
where
    F: Future<Output = T> + Send + 'static,
    T: ToNapiValue + Send + 'static,
{
    let runtime = runtime().map_err(|e| error::throw(env, &e))?;
    let (deferred, promise) = env.create_deferred()?;
    runtime.spawn(async move {
        let value = future.await;
        deferred.resolve(move |_| Ok(value));
    });
    Ok(promise)
}
