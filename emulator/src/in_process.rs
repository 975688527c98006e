//! [`TestEmulator`]: the emulator driven from inside a test process, without
//! HTTP for the test's own set-up and checks. The language bindings' test
//! helpers (Python `refundkit.testing.Emulator`, Kotlin `Emulator`, Node
//! `startEmulator()`) are thin conversions of this type.
//!
//! It calls the same state and the same rules as the `/_emulator` control
//! endpoints and `/api`: a paid checkout here is what `POST /api/checkouts`
//! then `POST /_emulator/checkouts/{id}/pay` would make, the ledger and the
//! delivery log are the ones those endpoints read.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::distributions::{Alphanumeric, DistString as _};
use tokio::runtime::Handle;

use crate::app::App;
use crate::auth::{self, Account};
use crate::checkouts::{LedgerRefund, NewCheckout, MAX_AMOUNT, MIN_CHECKOUT_AMOUNT};
use crate::delivery::Delivery;
use crate::faults::Faults;
use crate::reply::ApiError;
use crate::{Emulator, EmulatorConfig};

/// How often [`TestEmulator::wait_for_deliveries`] looks at the log.
const DELIVERY_POLL: Duration = Duration::from_millis(5);

/// Webhook retry delays in a test emulator: 5 min becomes 0.3 s.
pub const TEST_WEBHOOK_TIME_SCALE: f64 = 0.001;

/// Why an in-process call was refused: what the API would have answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The HTTP status the API answers with (400, 403, 404).
    pub status: u16,
    /// The `errorCode` (`validation_error`, `checkout_not_found`, …).
    pub error_code: &'static str,
    /// The API's message.
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} {})", self.message, self.status, self.error_code)
    }
}

impl std::error::Error for Refused {}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Self {
        Self {
            status: e.status.as_u16(),
            error_code: e.code,
            message: e.message.into_owned(),
        }
    }
}

/// A webhook subscription just registered, with its signing secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSubscription {
    /// `sub_…`.
    pub id: String,
    /// The URL deliveries go to.
    pub url: String,
    /// `whsec_…`: give it to `WebhookVerifier`.
    pub secret: String,
}

impl std::fmt::Debug for WebhookSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSubscription")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// An emulator for one test: on `127.0.0.1`, a free port, one live secret
/// key of its own (other keys get 403), webhook retries 1000 times faster.
///
/// `Debug` never shows the key.
pub struct TestEmulator {
    emulator: Emulator,
    secret_key: String,
    runtime: Handle,
}

impl std::fmt::Debug for TestEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEmulator")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl TestEmulator {
    /// Starts on the current tokio runtime, which must keep running while
    /// the emulator is used. `webhook_time_scale` multiplies the webhook
    /// retry delays ([`TEST_WEBHOOK_TIME_SCALE`] is a good default).
    pub async fn start(webhook_time_scale: f64) -> std::io::Result<Self> {
        let secret_key = format!(
            "sk_live_{}",
            Alphanumeric.sample_string(&mut rand::thread_rng(), 24)
        );
        let config = EmulatorConfig {
            secret_keys: vec![secret_key.clone()],
            webhook_time_scale,
            ..EmulatorConfig::default()
        };
        let emulator = Emulator::start(config).await?;
        Ok(Self {
            emulator,
            secret_key,
            runtime: Handle::current(),
        })
    }

    /// `http://127.0.0.1:PORT`: the client's base URL.
    pub fn url(&self) -> String {
        self.emulator.base_url()
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.emulator.addr().port()
    }

    /// The one key this emulator accepts (`sk_live_…`).
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    fn app(&self) -> &Arc<App> {
        &self.emulator.app
    }

    fn account(&self) -> Account<'_> {
        Account {
            key: &self.secret_key,
            mode: auth::mode_of(&self.secret_key).unwrap_or(auth::Mode::Live),
        }
    }

    /// Creates a live ZAR checkout of `amount` cents and pays it (which
    /// sends `payment.succeeded` to registered webhooks); returns its id.
    /// `metadata` is the checkout's (`{"emulator.refund": "fail"}` makes
    /// its refunds fail).
    pub fn paid_checkout(
        &self,
        amount: i64,
        metadata: Option<BTreeMap<String, String>>,
    ) -> Result<String, Refused> {
        if !(MIN_CHECKOUT_AMOUNT..=MAX_AMOUNT).contains(&amount) {
            return Err(ApiError::validation(format!(
                "amount must be an integer number of cents, at least {MIN_CHECKOUT_AMOUNT}."
            ))
            .into());
        }
        let app = self.app();
        let new = NewCheckout {
            amount,
            metadata,
            extras: serde_json::Map::new(),
        };
        let created = app.checkouts.create(self.account(), new, &app.base_url);
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        let paid = app.checkouts.pay(&id, &app.base_url)?;
        // Deliveries are spawned tasks: the caller may be on any thread.
        let _runtime = self.runtime.enter();
        let payload = paid.payload;
        app.emit(&paid.owner, "payment.succeeded", || payload);
        Ok(id)
    }

    /// The ledger, oldest first: the refunds actually made, of one
    /// checkout or (`None`) of all.
    pub fn refunds(&self, checkout_id: Option<&str>) -> Vec<LedgerRefund> {
        self.app().checkouts.ledger(checkout_id)
    }

    /// Replaces the faults of the refund endpoint (and reseeds).
    pub fn set_faults(&self, faults: Faults) -> Result<(), Refused> {
        faults
            .validate()
            .map_err(|why| ApiError::validation(format!("Invalid faults: {why}.")))?;
        self.app().faults.set(faults);
        Ok(())
    }

    /// The current faults.
    pub fn faults(&self) -> Faults {
        self.app().faults.get()
    }

    /// Registers `url` for this emulator's key, as `POST /api/webhooks`:
    /// every later event is signed and POSTed there, and logged in
    /// [`TestEmulator::deliveries`] whether or not anything answers.
    pub fn register_webhook(&self, name: &str, url: &str) -> Result<WebhookSubscription, Refused> {
        let body = self.app().webhooks.register(self.account(), name, url)?;
        let text = |field: &str| body[field].as_str().unwrap_or_default().to_owned();
        Ok(WebhookSubscription {
            id: text("id"),
            url: text("url"),
            secret: text("secret"),
        })
    }

    /// Every delivery attempt so far, oldest first, each with the exact
    /// signed headers and body.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.app().deliverer.log()
    }

    /// Waits until the log holds at least `count` attempts of `event_type`
    /// (any type when `None`) and returns those attempts, oldest first;
    /// `None` if `timeout` passes first. Deliveries are sent after the call
    /// that caused them returns, so a test waits here rather than sleeping.
    pub fn wait_for_deliveries(
        &self,
        event_type: Option<String>,
        count: usize,
        timeout: Duration,
    ) -> impl Future<Output = Option<Vec<Delivery>>> + Send + 'static {
        let app = Arc::clone(self.app());
        let matching = move || -> Vec<Delivery> {
            let mut log = app.deliverer.log();
            log.retain(|d| event_type.as_deref().is_none_or(|t| d.event_type == t));
            log
        };
        async move {
            let polling = async {
                loop {
                    let found = matching();
                    if found.len() >= count {
                        return found;
                    }
                    tokio::time::sleep(DELIVERY_POLL).await;
                }
            };
            tokio::time::timeout(timeout, polling).await.ok()
        }
    }

    /// Forgets every checkout, refund, key, webhook, delivery and fault.
    pub fn reset(&self) {
        self.app().reset();
    }

    /// Stops gracefully (see [`Emulator::shutdown`]); once it returns the
    /// port is free.
    pub async fn shutdown(self) {
        self.emulator.shutdown().await;
    }
}
