//! Serving: the routes, start-up, and the graceful stop (stop accepting,
//! finish every forwarded refund, then return).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use axum::{Json, Router};
use http::StatusCode;
use serde_json::json;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

use crate::answer::OwnError;
use crate::rate::RateLimiter;
use crate::refunds::{self, Gate};
use crate::{upstream, ConfigError, RelayConfig};

/// Largest request body read, in bytes (a refund body is tiny).
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Forwarded refunds in flight at once; more wait for the permit count to
/// be checked at shutdown only, so this is a ceiling, not a queue.
const MAX_IN_FLIGHT: u32 = 1 << 20;

/// A running relay. Dropping it stops accepting at once; [`Relay::shutdown`]
/// stops gracefully.
pub struct Relay {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    in_flight: Arc<Semaphore>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The address could not be bound.
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
}

impl Relay {
    /// Builds the core client, binds `config.listen` and serves on the
    /// current tokio runtime; returns once connections are accepted.
    pub async fn start(config: RelayConfig) -> Result<Relay, StartError> {
        let client = upstream::client(
            &config.secret_key,
            &config.upstream,
            config.attempt_timeout,
            config.total_timeout,
        )
        .map_err(|e| ConfigError::new(format!("upstream client: {e}")))?;
        let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT as usize));
        let gate = Arc::new(Gate {
            verifier: config.verifier,
            policies: config.policies,
            rate: RateLimiter::default(),
            store: config.store,
            client,
            in_flight: in_flight.clone(),
        });
        let router = Router::new()
            .route(
                "/healthz",
                get(|| async { Json(json!({ "status": "ok" })) }),
            )
            .route("/api/checkouts/{id}/refund", post(refunds::refund))
            .fallback(|| async {
                OwnError::new(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such endpoint on the relay",
                )
            })
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(gate);
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let listener = listener.tap_io(|tcp| {
            // Answers go out at once, not after the peer's delayed ACK.
            let _ = tcp.set_nodelay(true);
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Relay {
            addr,
            stop: Some(stop),
            server: Some(server),
            in_flight,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets requests in progress finish and
    /// waits until every forwarded refund has its outcome journaled.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "relay server ended with an error"),
                Err(e) => tracing::warn!(error = %e, "relay server task failed"),
            }
        }
        // Every permit back means no refund is still being forwarded.
        if let Ok(all) = self.in_flight.acquire_many(MAX_IN_FLIGHT).await {
            all.forget();
        }
        self.in_flight.close();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
