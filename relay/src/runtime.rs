//! The tokio runtime `refundkit relay` serves on (ADR 0024).

use std::io;

use tokio::runtime::{Builder, Runtime};

/// A runtime of `threads` threads: one thread (the default of `refundkit
/// relay`) is a current-thread runtime, so a request's tasks (the app's
/// connection, the forwarded refund, the upstream connection) hand work to
/// each other without waking another thread, and the journal's group
/// commit gathers the writes of every request ready on that thread. More
/// threads make a multi-thread runtime with that many workers.
pub fn build(threads: usize) -> io::Result<Runtime> {
    if threads <= 1 {
        return Builder::new_current_thread().enable_all().build();
    }
    Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
}
