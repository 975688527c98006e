//! Webhook subscriptions per account: register, list, delete.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use http::StatusCode;
use refundkit::WebhookSigner;
use serde_json::{json, Value};

use crate::auth::{Account, Mode};
use crate::ids;
use crate::reply::ApiError;

/// Most subscriptions per account.
pub(crate) const MAX_PER_ACCOUNT: usize = 5;
/// Longest subscription name accepted **\[ours\]**.
const MAX_NAME_LEN: usize = 255;

/// One registered endpoint.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) mode: Mode,
    pub(crate) signer: WebhookSigner,
}

impl Subscription {
    /// The listed form: never the secret.
    pub(crate) fn to_json(&self) -> Value {
        json!({ "id": self.id, "name": self.name, "url": self.url, "mode": self.mode.as_str() })
    }
}

/// Every account's subscriptions.
#[derive(Default)]
pub(crate) struct WebhookRegistry {
    by_account: RwLock<HashMap<String, Vec<Arc<Subscription>>>>,
}

impl WebhookRegistry {
    /// Registers `url` for `account`; the answer carries the secret, shown
    /// only this once.
    pub(crate) fn register(
        &self,
        account: Account<'_>,
        name: &str,
        url: &str,
    ) -> Result<Value, ApiError> {
        if name.trim().is_empty() || name.len() > MAX_NAME_LEN {
            return Err(ApiError::validation(format!(
                "name must be a non-empty string of at most {MAX_NAME_LEN} bytes."
            )));
        }
        let parsed = url::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
        if parsed.is_none() {
            return Err(ApiError::validation(
                "url must be an absolute http or https URL.",
            ));
        }
        let secret = WebhookSigner::generate_secret();
        let signer = WebhookSigner::new(&secret).map_err(|_| ApiError::internal())?;
        let sub = Arc::new(Subscription {
            id: ids::subscription(),
            name: name.to_owned(),
            url: url.to_owned(),
            mode: account.mode,
            signer,
        });
        let mut map = self.by_account.write().unwrap_or_else(|p| p.into_inner());
        let subs = map.entry(account.key.to_owned()).or_default();
        if subs.len() >= MAX_PER_ACCOUNT {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "webhook_limit_reached",
                format!("At most {MAX_PER_ACCOUNT} webhooks can be registered per account."),
            ));
        }
        subs.push(sub.clone());
        let mut body = sub.to_json();
        body["secret"] = Value::String(secret);
        Ok(body)
    }

    /// The account's subscriptions, oldest first.
    pub(crate) fn list(&self, account_key: &str) -> Vec<Arc<Subscription>> {
        let map = self.by_account.read().unwrap_or_else(|p| p.into_inner());
        map.get(account_key).cloned().unwrap_or_default()
    }

    /// Removes a subscription; `None` when the account has no such id.
    pub(crate) fn delete(&self, account: Account<'_>, id: &str) -> Option<Arc<Subscription>> {
        let mut map = self.by_account.write().unwrap_or_else(|p| p.into_inner());
        let subs = map.get_mut(account.key)?;
        let index = subs.iter().position(|s| s.id == id)?;
        Some(subs.remove(index))
    }

    /// Whether `sub` is still registered (deliveries stop once it is not).
    pub(crate) fn is_registered(&self, account_key: &str, sub: &Arc<Subscription>) -> bool {
        let map = self.by_account.read().unwrap_or_else(|p| p.into_inner());
        map.get(account_key)
            .is_some_and(|subs| subs.iter().any(|s| Arc::ptr_eq(s, sub)))
    }

    /// Forgets every subscription.
    pub(crate) fn clear(&self) {
        self.by_account
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
