//! Start, reset and stop signals for every task the emulator spawns.
//!
//! One `watch` channel carries a generation number: a reset bumps it (so
//! pending webhook deliveries of the old state stop), stopping sets it to
//! [`STOPPED`]. Every spawned task holds a receiver, so a graceful stop can
//! wait until all of them have ended.

use std::time::Duration;

use tokio::sync::watch;

/// The generation meaning "shut down".
const STOPPED: u64 = u64::MAX;

/// The sending side, owned by the emulator's state.
pub(crate) struct Lifecycle {
    tx: watch::Sender<u64>,
}

impl Lifecycle {
    pub(crate) fn new() -> Self {
        Self {
            tx: watch::Sender::new(0),
        }
    }

    /// A receiver for a task about to be spawned (create it before
    /// spawning, so a stop never misses the task).
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }

    /// The current generation.
    pub(crate) fn generation(&self) -> u64 {
        *self.tx.borrow()
    }

    /// Starts a new generation: tasks of the old one stop.
    pub(crate) fn next_generation(&self) {
        self.tx.send_modify(|g| {
            if *g != STOPPED {
                *g += 1;
            }
        });
    }

    /// Tells every task to stop.
    pub(crate) fn stop(&self) {
        self.tx.send_replace(STOPPED);
    }

    /// Waits until every task has dropped its receiver, or `limit` passes.
    pub(crate) async fn wait_for_tasks(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.tx.closed()).await.is_ok()
    }
}

/// Resolves once the emulator is stopping.
pub(crate) async fn stopped(rx: &mut watch::Receiver<u64>) {
    // An error means the state is gone: stop too.
    let _ = rx.wait_for(|g| *g == STOPPED).await;
}

/// Resolves once `generation` is over (reset or stop).
pub(crate) async fn superseded(rx: &mut watch::Receiver<u64>, generation: u64) {
    let _ = rx.wait_for(|g| *g != generation).await;
}
