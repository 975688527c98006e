//! A blocking client for callers without an async runtime.

use std::sync::OnceLock;

use crate::error::{Error, ErrorKind, Result};
use crate::protocol::{Refund, RefundRequest};

/// The process-wide runtime that drives blocking calls: two worker threads
/// run the I/O while callers wait.
pub fn shared_runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("refundkit-io")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| {
            Error::new(
                ErrorKind::Configuration,
                format!("cannot start the I/O runtime: {e}"),
            )
        })
}

/// The blocking twin of [`crate::Client`]: same behaviour, same errors.
/// `Send + Sync` and cheap to clone; share one across threads.
#[derive(Clone, Debug)]
pub struct Client {
    inner: crate::Client,
}

impl Client {
    /// Wraps an async client.
    pub fn from_async(inner: crate::Client) -> Self {
        Self { inner }
    }

    /// A blocking client with every default, talking to the production service.
    pub fn new(secret_key: impl Into<String>) -> Result<Self> {
        crate::Client::builder(secret_key).build_blocking()
    }

    /// The async client underneath.
    pub fn as_async(&self) -> &crate::Client {
        &self.inner
    }

    /// Refunds a checkout, blocking the calling thread. See
    /// [`crate::Client::refund`].
    ///
    /// Calling it from inside an async runtime returns a configuration
    /// error instead of deadlocking or panicking.
    pub fn refund(&self, request: RefundRequest) -> Result<Refund> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::new(
                ErrorKind::Configuration,
                "the blocking client was called from inside an async runtime; use the async client there",
            ));
        }
        let runtime = shared_runtime()?;
        runtime.block_on(self.inner.refund(request))
    }
}
