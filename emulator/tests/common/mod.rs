//! Shared fixtures: an emulator per test, keys, raw HTTP helpers, and a
//! local webhook receiver.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use refundkit_emulator::{ControlClient, Emulator, EmulatorConfig};
use serde_json::Value;

pub const LIVE_KEY: &str = "sk_live_0123456789abcdefghijKLMN";
pub const OTHER_LIVE_KEY: &str = "sk_live_ZYXWVUTSRQPONMLKJIHGfedc";
pub const TEST_KEY: &str = "sk_test_0123456789abcdefghijKLMN";

pub async fn start() -> Emulator {
    start_with(EmulatorConfig::default()).await
}

pub async fn start_with(config: EmulatorConfig) -> Emulator {
    Emulator::start(config).await.expect("emulator starts")
}

pub fn control(emulator: &Emulator, key: &str) -> ControlClient {
    ControlClient::new(&emulator.base_url(), key)
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A core client with fast retries.
pub fn client(emulator: &Emulator, key: &str) -> refundkit::Client {
    refundkit::Client::builder(key)
        .base_url(emulator.base_url())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Creates a checkout of `amount` for `key` and pays it; returns its id.
pub async fn paid_checkout(emulator: &Emulator, key: &str, amount: i64) -> String {
    paid_checkout_with(emulator, key, amount, None).await
}

pub async fn paid_checkout_with(
    emulator: &Emulator,
    key: &str,
    amount: i64,
    metadata: Option<BTreeMap<String, String>>,
) -> String {
    let control = control(emulator, key);
    let checkout = control.create_checkout(amount, metadata).await.unwrap();
    let id = checkout["id"].as_str().unwrap().to_owned();
    control.pay(&id).await.unwrap();
    id
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub raw: Bytes,
}

impl Answer {
    pub fn replayed(&self) -> bool {
        self.headers
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true")
    }
    pub fn description(&self) -> &str {
        self.body["description"].as_str().unwrap_or_default()
    }
}

pub async fn read(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let raw = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        raw,
    }
}

/// `POST /api/checkouts/{id}/refund` with a raw body and optional key.
pub async fn refund_raw(
    emulator: &Emulator,
    secret_key: &str,
    checkout_id: &str,
    body: &str,
    idempotency_key: Option<&str>,
) -> Answer {
    let mut req = http()
        .post(format!(
            "{}/api/checkouts/{checkout_id}/refund",
            emulator.base_url()
        ))
        .bearer_auth(secret_key)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(key) = idempotency_key {
        req = req.header("idempotency-key", key);
    }
    read(req.send().await.unwrap()).await
}

/// Asserts the error body the emulator sends on every error.
pub fn assert_error_body(answer: &Answer) {
    for field in ["errorCode", "errorMessage", "displayMessage", "description"] {
        assert!(
            answer.body[field].as_str().is_some_and(|s| !s.is_empty()),
            "error body lacks {field}: {}",
            String::from_utf8_lossy(&answer.raw)
        );
    }
}

/// One webhook delivery as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
    pub fn verify(&self, secret: &str) -> refundkit::WebhookEvent {
        let verifier = refundkit::WebhookVerifier::new(secret).unwrap();
        let headers = self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        verifier
            .verify(headers, &self.body)
            .expect("delivery verifies")
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    /// Statuses to answer, in order; 200 once exhausted.
    script: Mutex<Vec<u16>>,
}

/// A local webhook endpoint recording every delivery.
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    /// Starts a receiver answering `script` statuses first, then 200.
    pub async fn start(script: &[u16]) -> Receiver {
        let state = Arc::new(ReceiverState {
            received: Mutex::new(Vec::new()),
            script: Mutex::new(script.iter().rev().copied().collect()),
        });
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, state }
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` deliveries arrived (fails after 20 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        eventually(|| {
            let got = self.received();
            async move { (got.len() >= n).then_some(got) }
        })
        .await
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let headers = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    state
        .received
        .lock()
        .unwrap()
        .push(Received { headers, body });
    let status = state.script.lock().unwrap().pop().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

/// Polls `check` until it yields `Some`, failing after 20 s.
pub async fn eventually<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..400 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within 20 s");
}
