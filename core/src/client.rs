//! The async client: validation, the attempt loop, and error finishing.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{ClientBuilder, Config};
use crate::error::{Error, ErrorKind, Result};
use crate::policy::{self, RetryDecision, RetryPolicy};
use crate::protocol::{self, Refund, RefundRequest};
use crate::transport::Transport;

/// The refund client. Cheap to clone (one `Arc`); share one per process.
///
/// Requires a tokio runtime; see [`crate::blocking::Client`] for callers
/// without one.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    transport: Transport,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Client {
    /// Starts configuring a client for `secret_key` (`sk_test_…`/`sk_live_…`).
    pub fn builder(secret_key: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(secret_key.into())
    }

    /// A client with every default, talking to the production service.
    pub fn new(secret_key: impl Into<String>) -> Result<Self> {
        Self::builder(secret_key).build()
    }

    pub(crate) fn from_config(config: Config) -> Result<Self> {
        let transport = Transport::new(&config)?;
        Ok(Self {
            inner: Arc::new(Inner { config, transport }),
        })
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Refunds a checkout.
    ///
    /// Validates `request` before any I/O, sends one idempotency key on every
    /// attempt (the caller's or a fresh UUIDv4), and retries connection
    /// failures, timeouts, 409, 429 and 5xx within `total_timeout`. Every
    /// error carries the key: retrying later with it never refunds twice.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> anyhow::Result<()> {
    /// # let emulator = refundkit_emulator::Emulator::start(Default::default()).await?;
    /// # let control = refundkit_emulator::ControlClient::new(&emulator.base_url(), "sk_live_docs0123456789abcdef");
    /// # let checkout = control.create_checkout(5000, None).await?["id"].as_str().unwrap_or_default().to_owned();
    /// # control.pay(&checkout).await?;
    /// # let base_url = emulator.base_url();
    /// use refundkit::{Client, RefundRequest};
    ///
    /// let client = Client::builder("sk_live_docs0123456789abcdef")
    ///     .base_url(base_url) // omit for the production service
    ///     .build()?;
    /// let refund = client
    ///     .refund(RefundRequest::new(&checkout).metadata("order", "42"))
    ///     .await?;
    /// assert!(refund.refund_id.starts_with("rfd_"));
    /// assert_eq!(refund.attempts, 1);
    /// // Persist refund.idempotency_key: retrying with it never refunds twice.
    /// let again = client
    ///     .refund(RefundRequest::new(&checkout).metadata("order", "42").idempotency_key(&refund.idempotency_key))
    ///     .await?;
    /// assert!(again.replayed);
    /// assert_eq!(again.refund_id, refund.refund_id);
    /// # emulator.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn refund(&self, mut request: RefundRequest) -> Result<Refund> {
        request.validate()?;
        let key = request.fix_idempotency_key().to_owned();
        let http_request = protocol::build_refund_request(&request, &key);
        let config = &self.inner.config;
        let retry = RetryPolicy {
            max_retries: config.max_retries,
        };
        let clock = &config.timing.clock;
        let deadline = clock.now().saturating_add(config.total_timeout);
        let mut attempt = 0u32;
        let mut earlier_unknown = false;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_sub(clock.now());
            let outcome = self.attempt(&http_request, &request, &key, remaining).await;
            let error = match outcome {
                Ok(mut refund) => {
                    refund.attempts = attempt;
                    return Ok(refund);
                }
                Err(e) => e,
            };
            tracing::debug!(attempt, kind = %error.kind(), status = ?error.status(), "refund attempt failed");
            let remaining = deadline.saturating_sub(clock.now());
            let jitter = config.timing.jitter.factor();
            match retry.decide(&error, attempt, remaining, jitter) {
                RetryDecision::RetryAfter(delay) => {
                    earlier_unknown |= error.is_outcome_unknown();
                    config.timing.sleep.sleep(delay).await;
                }
                RetryDecision::Stop => {
                    let unknown = policy::outcome_unknown(&error, earlier_unknown);
                    return Err(error
                        .with_idempotency_key(&key)
                        .with_attempts(attempt)
                        .with_outcome_unknown(unknown)
                        .scrubbed(config.secret_key.expose()));
                }
            }
        }
    }

    async fn attempt(
        &self,
        http_request: &protocol::HttpRequest,
        request: &RefundRequest,
        key: &str,
        remaining: Duration,
    ) -> Result<Refund> {
        let config = &self.inner.config;
        if remaining.is_zero() {
            return Err(Error::new(ErrorKind::Timeout, "total_timeout elapsed")
                .with_delivery(policy::Delivery::NotSent));
        }
        let per_attempt = config.timeout.min(remaining);
        let response = self.inner.transport.send(http_request, per_attempt).await?;
        protocol::parse_refund_response(
            response.status,
            &response.meta,
            &response.body,
            &request.checkout_id,
            key,
        )
    }
}
