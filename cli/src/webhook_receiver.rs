//! A tiny in-process webhook endpoint for the demo.
//!
//! Each delivery is verified with the core [`WebhookVerifier`] on its raw
//! bytes; the outcome goes to the caller over a channel. Verified deliveries
//! are acknowledged with 200, others refused with 400 (the sender retries).

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use refundkit::{WebhookEvent, WebhookVerifier};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The path deliveries are posted to.
const PATH: &str = "/webhooks";

/// A running receiver on `127.0.0.1`, on a free port.
pub struct WebhookReceiver {
    url: String,
    verifier: Arc<OnceLock<WebhookVerifier>>,
    deliveries: mpsc::UnboundedReceiver<refundkit::Result<WebhookEvent>>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

#[derive(Clone)]
struct Shared {
    verifier: Arc<OnceLock<WebhookVerifier>>,
    deliveries: mpsc::UnboundedSender<refundkit::Result<WebhookEvent>>,
}

impl WebhookReceiver {
    /// Binds and starts serving. Deliveries are refused with 503 until
    /// [`WebhookReceiver::set_secret`] is called.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}{PATH}", listener.local_addr()?);
        let verifier = Arc::new(OnceLock::new());
        let (sender, deliveries) = mpsc::unbounded_channel();
        let shared = Shared {
            verifier: Arc::clone(&verifier),
            deliveries: sender,
        };
        let app = Router::new().route(PATH, post(receive)).with_state(shared);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Self {
            url,
            verifier,
            deliveries,
            stop,
            server,
        })
    }

    /// The URL to register.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Starts verifying with the secret the registration returned.
    pub fn set_secret(&self, secret: &str) -> refundkit::Result<()> {
        let verifier = WebhookVerifier::new(secret)?;
        // Set once; a second call keeps the first secret.
        let _ = self.verifier.set(verifier);
        Ok(())
    }

    /// The next delivery's verification outcome, in arrival order.
    pub async fn next(&mut self) -> Option<refundkit::Result<WebhookEvent>> {
        self.deliveries.recv().await
    }

    /// Stops the server, letting an in-flight delivery finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
    }
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let Some(verifier) = shared.verifier.get() else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let pairs = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
    let outcome = verifier.verify(pairs, &body);
    let status = if outcome.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let _ = shared.deliveries.send(outcome);
    status
}
