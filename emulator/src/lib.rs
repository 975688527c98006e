//! refundkit-emulator: a local, faithful emulator of the Checkout API
//! (`shared/API.md`), plus control endpoints under `/_emulator` for tests.
//!
//! See `README.md` for every endpoint, the JSON shapes of the control
//! endpoints, and which behaviours are this project's own choices.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use refundkit_emulator::{ControlClient, Emulator, EmulatorConfig};
//!
//! let emulator = Emulator::start(EmulatorConfig::default()).await?;
//! let control = ControlClient::new(&emulator.base_url(), "sk_live_0123456789abcdef");
//! let checkout = control.create_checkout(1000, None).await?;
//! control.pay(checkout["id"].as_str().unwrap_or_default()).await?;
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```

mod app;
mod auth;
mod body;
mod checkouts;
mod client;
mod clock;
mod control;
mod delivery;
mod faults;
mod idempotency;
mod ids;
mod in_process;
mod lifecycle;
mod reply;
mod routes;
mod server;
mod sharded;
mod stats;
mod webhooks;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use checkouts::LedgerRefund;
pub use client::ControlClient;
pub use delivery::Delivery;
pub use faults::Faults;
pub use in_process::{Refused, TestEmulator, WebhookSubscription, TEST_WEBHOOK_TIME_SCALE};

/// How long a graceful stop waits for connections and tasks to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How an [`Emulator`] is started.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Address to bind (default `127.0.0.1`).
    pub host: IpAddr,
    /// Port to bind; `0` (the default) picks a free port.
    pub port: u16,
    /// Keys accepted; empty (the default) accepts any well-formed
    /// `sk_test_`/`sk_live_` key.
    pub secret_keys: Vec<String>,
    /// Multiplies the webhook retry delays: `1.0` (the default) is the real
    /// schedule, `0.001` turns 5 minutes into 0.3 s.
    pub webhook_time_scale: f64,
    /// Faults injected from the start.
    pub faults: Faults,
    /// How long an idempotency key is remembered (default 24 h).
    pub idempotency_ttl: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            secret_keys: Vec::new(),
            webhook_time_scale: 1.0,
            faults: Faults::default(),
            idempotency_ttl: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// A running emulator. Dropping it stops the server without waiting;
/// [`Emulator::shutdown`] stops it gracefully.
pub struct Emulator {
    addr: SocketAddr,
    app: Arc<app::App>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Binds, spawns the server on the current tokio runtime and returns
    /// once connections are being accepted.
    ///
    /// Fails if the address cannot be bound or the faults are invalid.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        config
            .faults
            .validate()
            .map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidInput, why))?;
        let listener = tokio::net::TcpListener::bind((config.host, config.port)).await?;
        let addr = listener.local_addr()?;
        let app = Arc::new(app::App::new(&config, format!("http://{addr}")));
        let router = routes::router(app.clone());
        let accept_stop = app.lifecycle.subscribe();
        tokio::spawn(server::accept_loop(
            listener,
            router,
            app.clone(),
            accept_stop,
        ));
        let sweep_stop = app.lifecycle.subscribe();
        tokio::spawn(sweep_idempotency_keys(
            app.clone(),
            config.idempotency_ttl,
            sweep_stop,
        ));
        Ok(Emulator { addr, app })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`, for clients.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish (for up to 10 s),
    /// closes idle connections and stops webhook delivery.
    pub async fn shutdown(self) {
        self.app.lifecycle.stop();
        if !self.app.lifecycle.wait_for_tasks(SHUTDOWN_GRACE).await {
            tracing::warn!("emulator tasks still running after the shutdown grace period");
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.app.lifecycle.stop();
    }
}

/// Removes expired idempotency records now and then, so memory follows the
/// TTL rather than the run time.
async fn sweep_idempotency_keys(
    app: Arc<app::App>,
    ttl: Duration,
    mut stop: tokio::sync::watch::Receiver<u64>,
) {
    let period = ttl.clamp(Duration::from_millis(100), Duration::from_secs(60));
    loop {
        tokio::select! {
            () = tokio::time::sleep(period) => app.idempotency.remove_expired(),
            () = lifecycle::stopped(&mut stop) => return,
        }
    }
}
