//! The emulator's whole state, shared by every connection.

use std::sync::Arc;

use serde_json::Value;

use crate::checkouts::CheckoutStore;
use crate::delivery::{self, Deliverer, Event};
use crate::faults::FaultInjector;
use crate::idempotency::IdempotencyStore;
use crate::lifecycle::Lifecycle;
use crate::stats::Stats;
use crate::webhooks::WebhookRegistry;
use crate::EmulatorConfig;

/// Everything the handlers share. Each part locks itself, finely, and no
/// lock is held across an `.await`.
pub(crate) struct App {
    pub(crate) base_url: String,
    pub(crate) secret_keys: Vec<String>,
    pub(crate) checkouts: CheckoutStore,
    pub(crate) idempotency: IdempotencyStore,
    pub(crate) webhooks: WebhookRegistry,
    pub(crate) deliverer: Arc<Deliverer>,
    pub(crate) faults: FaultInjector,
    pub(crate) stats: Stats,
    pub(crate) lifecycle: Lifecycle,
}

impl App {
    pub(crate) fn new(config: &EmulatorConfig, base_url: String) -> Self {
        Self {
            base_url,
            secret_keys: config.secret_keys.clone(),
            checkouts: CheckoutStore::new(),
            idempotency: IdempotencyStore::new(config.idempotency_ttl),
            webhooks: WebhookRegistry::default(),
            deliverer: Arc::new(Deliverer::new(config.webhook_time_scale)),
            faults: FaultInjector::new(config.faults.clone()),
            stats: Stats::default(),
            lifecycle: Lifecycle::new(),
        }
    }

    /// Sends an event to every subscription of `account_key`; `payload` is
    /// only built when there is one.
    pub(crate) fn emit(
        self: &Arc<Self>,
        account_key: &str,
        event_type: &'static str,
        payload: impl FnOnce() -> Value,
    ) {
        let generation = self.lifecycle.generation();
        let subs = self.webhooks.list(account_key);
        if subs.is_empty() {
            return;
        }
        let event = Arc::new(Event::new(event_type, payload()));
        for sub in subs {
            let rx = self.lifecycle.subscribe();
            let still_registered = {
                let (app, account_key, sub) = (self.clone(), account_key.to_owned(), sub.clone());
                move || app.webhooks.is_registered(&account_key, &sub)
            };
            tokio::spawn(delivery::deliver(
                self.deliverer.clone(),
                sub,
                event.clone(),
                still_registered,
                rx,
                generation,
            ));
        }
    }

    /// Forgets everything: checkouts, refunds, keys, webhooks, the delivery
    /// log, counters and faults; pending deliveries stop.
    pub(crate) fn reset(&self) {
        self.lifecycle.next_generation();
        self.checkouts.clear();
        self.idempotency.clear();
        self.webhooks.clear();
        self.deliverer.clear_log();
        self.faults.set(crate::Faults::default());
        self.stats.clear();
    }
}
