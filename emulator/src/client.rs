//! [`ControlClient`]: a small async client for the emulator's non-refund
//! endpoints (refunds go through `refundkit::Client`).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde_json::{json, Value};

use crate::faults::Faults;

/// Calls the checkout and webhook endpoints of the API and the
/// `/_emulator` control endpoints. Used by the CLI demo, tests and the soak.
///
/// `Debug` shows the base URL only, never the secret key.
#[derive(Clone)]
pub struct ControlClient {
    http: reqwest::Client,
    base_url: String,
    auth: String,
}

impl std::fmt::Debug for ControlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl ControlClient {
    /// A client for the emulator at `base_url`; `secret_key` authenticates
    /// the `/api` calls (the control endpoints need none).
    pub fn new(base_url: &str, secret_key: &str) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            auth: format!("Bearer {secret_key}"),
        }
    }

    /// `POST /api/checkouts` for `amount` cents in ZAR; returns the checkout.
    pub async fn create_checkout(
        &self,
        amount: i64,
        metadata: Option<BTreeMap<String, String>>,
    ) -> anyhow::Result<Value> {
        let mut body = json!({ "amount": amount, "currency": "ZAR" });
        if let Some(metadata) = metadata {
            body["metadata"] = json!(metadata);
        }
        let req = self
            .api(reqwest::Method::POST, "/api/checkouts")
            .json(&body);
        self.send(req).await
    }

    /// `GET /api/checkouts/{id}`.
    pub async fn get_checkout(&self, id: &str) -> anyhow::Result<Value> {
        let req = self.api(reqwest::Method::GET, &format!("/api/checkouts/{id}"));
        self.send(req).await
    }

    /// `POST /_emulator/checkouts/{id}/pay`: completes the checkout as if the
    /// customer paid; returns the checkout.
    pub async fn pay(&self, checkout_id: &str) -> anyhow::Result<Value> {
        let url = format!("{}/_emulator/checkouts/{checkout_id}/pay", self.base_url);
        self.send(self.http.post(url)).await
    }

    /// `POST /api/webhooks`; the answer includes the `secret`, shown only here.
    pub async fn register_webhook(&self, name: &str, url: &str) -> anyhow::Result<Value> {
        let req = self
            .api(reqwest::Method::POST, "/api/webhooks")
            .json(&json!({ "name": name, "url": url }));
        self.send(req).await
    }

    /// `GET /_emulator/refunds[?checkoutId=]`: every refund actually made.
    pub async fn ledger(&self, checkout_id: Option<&str>) -> anyhow::Result<Vec<Value>> {
        let mut req = self
            .http
            .get(format!("{}/_emulator/refunds", self.base_url));
        if let Some(id) = checkout_id {
            req = req.query(&[("checkoutId", id)]);
        }
        list(self.send(req).await?, "refunds")
    }

    /// `PUT /_emulator/faults`.
    pub async fn set_faults(&self, faults: &Faults) -> anyhow::Result<()> {
        let url = format!("{}/_emulator/faults", self.base_url);
        self.send(self.http.put(url).json(faults)).await.map(drop)
    }

    /// `GET /_emulator/deliveries`: every webhook delivery attempt.
    pub async fn deliveries(&self) -> anyhow::Result<Vec<Value>> {
        let url = format!("{}/_emulator/deliveries", self.base_url);
        list(self.send(self.http.get(url)).await?, "deliveries")
    }

    /// `GET /_emulator/stats`: request counters.
    pub async fn stats(&self) -> anyhow::Result<Value> {
        let url = format!("{}/_emulator/stats", self.base_url);
        self.send(self.http.get(url)).await
    }

    /// `POST /_emulator/reset`: forgets all state and clears the faults.
    pub async fn reset(&self) -> anyhow::Result<()> {
        let url = format!("{}/_emulator/reset", self.base_url);
        self.send(self.http.post(url)).await.map(drop)
    }

    fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base_url))
            .header(reqwest::header::AUTHORIZATION, &self.auth)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let resp = req.send().await.context("emulator request failed")?;
        let status = resp.status();
        let text = resp.text().await.context("reading the emulator's answer")?;
        if !status.is_success() {
            bail!("emulator answered {status}: {text}");
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .with_context(|| format!("emulator answered {status} with non-JSON: {text}"))
    }
}

fn list(mut body: Value, field: &str) -> anyhow::Result<Vec<Value>> {
    match body.get_mut(field).map(Value::take) {
        Some(Value::Array(items)) => Ok(items),
        _ => bail!("emulator answer has no {field:?} array"),
    }
}
