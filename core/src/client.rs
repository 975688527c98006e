//! The async client: validation, the attempt loop, and error finishing.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{ClientBuilder, Config};
use tracing::Instrument;

use crate::error::{Error, ErrorKind, Result};
use crate::logs::{Answer, CallLog, Decision};
use crate::policy::{self, RetryDecision, RetryPolicy};
use crate::protocol::{self, Refund, RefundRequest};
use crate::redact;
use crate::token::{Bearer, Credential, TokenProvider};
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
    /// The secret key's `Authorization`, made once; `None` in token mode.
    key_bearer: Option<Bearer>,
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

    /// Starts configuring a token-mode client: an app's client of the
    /// merchant's relay at `url`, authenticating with `provider`'s bearer
    /// tokens instead of a secret key. Same refund, key, retry and error
    /// behaviour; after a 401 from the relay the provider is asked once with
    /// `force_refresh = true` and the attempt is repeated with the same key.
    pub fn builder_for_relay(
        url: impl Into<String>,
        provider: impl TokenProvider + 'static,
    ) -> ClientBuilder {
        ClientBuilder::for_relay(url.into(), Arc::new(provider))
    }

    pub(crate) fn from_config(config: Config) -> Result<Self> {
        let transport = Transport::new(&config)?;
        let key_bearer = match &config.credential {
            Credential::SecretKey(key) => Some(Bearer::new(key.expose(), "secret_key")?),
            Credential::Relay(_) => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                transport,
                key_bearer,
            }),
        })
    }

    /// The credential for the next attempt: the secret key's, or a token
    /// from the provider (checked before anything is sent).
    async fn bearer(&self, force_refresh: bool) -> Result<Cow<'_, Bearer>> {
        match (&self.inner.key_bearer, &self.inner.config.credential) {
            (Some(bearer), _) => Ok(Cow::Borrowed(bearer)),
            (None, Credential::Relay(provider)) => {
                Bearer::from_provider(provider.as_ref(), force_refresh)
                    .await
                    .map(Cow::Owned)
            }
            (None, Credential::SecretKey(key)) => {
                Bearer::new(key.expose(), "secret_key").map(Cow::Owned)
            }
        }
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
    #[allow(clippy::manual_async_fn)] // see the comment in the body
    pub fn refund(
        &self,
        mut request: RefundRequest,
    ) -> impl Future<Output = Result<Refund>> + Send + '_ {
        // An `async` block rather than an `async fn`: the block holds the
        // request once, where an `async fn` keeps its argument and a moved
        // copy of it (96 bytes more in every refund future).
        async move {
            request.validate()?;
            request.fix_idempotency_key();
            let request = &request;
            let key = request.idempotency_key.as_deref().unwrap_or_default();
            let log = CallLog {
                checkout_id: &request.checkout_id,
                idempotency_key: key,
            };
            let key_secret = self.inner.key_bearer.as_ref().map(|b| &*b.secret);
            let span = log.span(key_secret.as_slice());
            self.send_all(request, key, &log).instrument(span).await
        }
    }

    /// The attempt loop of one call whose key is fixed.
    async fn send_all(
        &self,
        request: &RefundRequest,
        key: &str,
        log: &CallLog<'_>,
    ) -> Result<Refund> {
        let http_request = protocol::build_refund_request(request, key);
        let config = &self.inner.config;
        let retry = RetryPolicy {
            max_retries: config.max_retries,
        };
        let clock = &config.timing.clock;
        let started = clock.now();
        let deadline = started.saturating_add(config.total_timeout);
        let mut attempt = 0u32;
        let mut earlier_unknown = false;
        let finish = |error: Error, attempt: u32, earlier_unknown: bool, bearers: &[&Bearer]| {
            let unknown = policy::outcome_unknown(&error, earlier_unknown);
            let error = error
                .with_idempotency_key(key)
                .with_attempts(attempt)
                .with_outcome_unknown(unknown);
            let error = bearers.iter().fold(error, |e, b| e.scrubbed(&b.secret));
            if unknown {
                let secrets: Vec<&str> = bearers.iter().map(|b| &*b.secret).collect();
                let elapsed = clock.now().saturating_sub(started);
                log.outcome_unknown(&secrets, attempt, &answer_of(&error), elapsed);
            }
            error
        };
        let mut bearer = match self.bearer(false).await {
            Ok(bearer) => bearer,
            Err(error) => return Err(finish(error, 0, false, &[])),
        };
        let mut refreshed_from: Option<Cow<'_, Bearer>> = None;
        loop {
            attempt += 1;
            // The first attempt starts with the call: one clock read less.
            let attempt_started = if attempt == 1 { started } else { clock.now() };
            let remaining = deadline.saturating_sub(attempt_started);
            // The outcome lives in this block only, so that its 176 bytes are
            // not kept in the future across the awaits below.
            let (error, attempt_elapsed) = {
                let outcome = self
                    .attempt(&http_request, request, key, remaining, &bearer)
                    .await;
                let attempt_ended = clock.now();
                let attempt_elapsed = attempt_ended.saturating_sub(attempt_started);
                match outcome {
                    Ok((mut refund, status)) => {
                        let answer = Answer {
                            outcome: "refunded",
                            status: Some(status),
                            request_id: refund.request_id.as_deref(),
                        };
                        let secrets = used_secrets(&bearer, refreshed_from.as_deref());
                        log.attempt(&secrets, attempt, &answer, attempt_elapsed, Decision::Done);
                        refund.attempts = attempt;
                        refund.elapsed = attempt_ended.saturating_sub(started);
                        return Ok(refund);
                    }
                    Err(e) => (e, attempt_elapsed),
                }
            };
            let secrets = used_secrets(&bearer, refreshed_from.as_deref());
            // Token mode: the relay refused the token. Ask for a fresh one,
            // once, and repeat the attempt with the same key at once.
            if config.is_relay() && refreshed_from.is_none() && error.status() == Some(401) {
                let answer = answer_of(&error);
                log.attempt(
                    &secrets,
                    attempt,
                    &answer,
                    attempt_elapsed,
                    Decision::RefreshToken,
                );
                earlier_unknown |= error.is_outcome_unknown();
                match self.bearer(true).await {
                    Ok(fresh) => {
                        refreshed_from = Some(std::mem::replace(&mut bearer, fresh));
                        continue;
                    }
                    Err(failure) => {
                        return Err(finish(failure, attempt, earlier_unknown, &[&*bearer]))
                    }
                }
            }
            let remaining = deadline.saturating_sub(clock.now());
            let jitter = config.timing.jitter.factor();
            match retry.decide(&error, attempt, remaining, jitter) {
                RetryDecision::RetryAfter(delay) => {
                    let answer = answer_of(&error);
                    let decision = Decision::Retry(delay);
                    log.attempt(&secrets, attempt, &answer, attempt_elapsed, decision);
                    earlier_unknown |= error.is_outcome_unknown();
                    config.timing.sleep.sleep(delay).await;
                }
                RetryDecision::Stop => {
                    let answer = answer_of(&error);
                    log.attempt(&secrets, attempt, &answer, attempt_elapsed, Decision::Stop);
                    let used: Vec<&Bearer> = std::iter::once(&*bearer)
                        .chain(refreshed_from.as_deref())
                        .collect();
                    return Err(finish(error, attempt, earlier_unknown, &used));
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
        bearer: &Bearer,
    ) -> Result<(Refund, u16)> {
        let config = &self.inner.config;
        if remaining.is_zero() {
            return Err(Error::new(ErrorKind::Timeout, "total_timeout elapsed")
                .with_delivery(policy::Delivery::NotSent));
        }
        let per_attempt = config.timeout.min(remaining);
        // Boxed: the exchange is most of an attempt's state, and a refund
        // future that stays under 1 KiB is allocated from the allocator's
        // per-thread cache when a caller boxes or spawns it (ADR 0028).
        let mut response = Box::pin(self.inner.transport.send(
            http_request,
            &bearer.header,
            per_attempt,
        ))
        .await?;
        // Mask an echoed key or token in the raw answer, before anything is
        // parsed or cut, then once more in the parsed fields (JSON escapes).
        let secret = &*bearer.secret;
        let body = redact::scrub_bytes_with(&response.body, &bearer.finder, secret);
        if let Some(id) = response.meta.request_id.as_mut() {
            redact::scrub_text(id, secret);
        }
        protocol::parse_refund_response(
            response.status,
            &response.meta,
            &body,
            &request.checkout_id,
            key,
        )
        .map(|refund| (refund.scrubbed(secret), response.status))
    }
}

/// The credentials an attempt's log lines are scrubbed of: the one it used
/// and, after a token refresh, the one refused before it.
fn used_secrets<'a>(bearer: &'a Bearer, refreshed_from: Option<&'a Bearer>) -> [&'a str; 2] {
    [&bearer.secret, refreshed_from.map_or("", |b| &b.secret)]
}

/// What the logs say of a failed attempt.
fn answer_of(error: &Error) -> Answer<'_> {
    Answer {
        outcome: error.kind().as_str(),
        status: error.status(),
        request_id: error.request_id(),
    }
}
