//! `RefundClient`: the core async client with a foreign-friendly surface.
//!
//! Kotlin gets `suspend fun refund(...)` and `fun refundBlocking(...)`,
//! Swift `func refund(...) async throws` and `func refundBlocking(...) throws`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use refundkit::redact::mask_secret;

use crate::error::RefundError;
use crate::runtime;

/// How to build a [`RefundClient`]. A `None` setting takes the core's
/// default (see [`defaults`]), as in every other binding.
///
/// `toString`/`description` show the secret key masked (`sk_live_…abcd`).
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
#[uniffi::export(Debug, Display)]
pub struct ClientConfig {
    /// `sk_live_…` or `sk_test_…`.
    pub secret_key: String,
    /// Where to send requests (`https`, or `http` on a loopback host);
    /// `None` means `https://payments.yoco.com`.
    #[uniffi(default)]
    pub base_url: Option<String>,
    /// Retries after the first attempt (0 to 10); `None` means 2.
    #[uniffi(default)]
    pub max_retries: Option<u32>,
    /// Time allowed for one attempt, in milliseconds; `None` means 30 s.
    #[uniffi(default)]
    pub timeout_ms: Option<u64>,
    /// Time allowed for all attempts of one call, in milliseconds; `None`
    /// means 90 s.
    #[uniffi(default)]
    pub total_timeout_ms: Option<u64>,
    /// The caller's platform for the `User-Agent` (e.g. `kotlin JVM 17`);
    /// `None` sends the operating system's name.
    #[uniffi(default)]
    pub platform: Option<String>,
    /// A proxy for https requests (`http://host:port`), instead of
    /// `HTTPS_PROXY`'s. Loopback and plain-http targets never use one.
    #[uniffi(default)]
    pub proxy: Option<String>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("secret_key", &mask_secret(&self.secret_key))
            .field("base_url", &self.base_url)
            .field("max_retries", &self.max_retries)
            .field("timeout_ms", &self.timeout_ms)
            .field("total_timeout_ms", &self.total_timeout_ms)
            .field("platform", &self.platform)
            .field("proxy", &self.proxy.as_ref().map(|_| "…"))
            .finish()
    }
}

impl fmt::Display for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The defaults of every setting, from the core: the values a `None`
/// setting takes (the same in every language; `tests/vectors/defaults.json`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Defaults {
    /// The production base URL.
    pub base_url: String,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Time allowed for one attempt, in milliseconds.
    pub timeout_ms: u64,
    /// Time allowed for all attempts of one call, in milliseconds.
    pub total_timeout_ms: u64,
    /// How far a webhook's timestamp may be from now, in seconds.
    pub webhook_tolerance_secs: u64,
}

/// The core's defaults for every setting.
#[uniffi::export]
pub fn defaults() -> Defaults {
    use refundkit::defaults as d;
    let millis = |t: Duration| u64::try_from(t.as_millis()).unwrap_or(u64::MAX);
    Defaults {
        base_url: d::BASE_URL.to_owned(),
        max_retries: d::MAX_RETRIES,
        timeout_ms: millis(d::TIMEOUT),
        total_timeout_ms: millis(d::TOTAL_TIMEOUT),
        webhook_tolerance_secs: d::WEBHOOK_TOLERANCE.as_secs(),
    }
}

/// A deterministic idempotency key (a UUIDv5) for `parts` (an order id, an
/// attempt number, …) within `namespace`: the same arguments give the same
/// key in every language, so a retry after a restart replays instead of
/// refunding twice. Throws `InvalidInput` naming `namespace` or `parts`.
#[uniffi::export]
pub fn idempotency_key_for(namespace: String, parts: Vec<String>) -> Result<String, RefundError> {
    Ok(refundkit::idempotency_key_for(&namespace, &parts)?)
}

/// An accepted refund. The final word arrives as a `refund.succeeded` or
/// `refund.failed` webhook.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Refund {
    /// The refunded checkout (`ch_…`).
    pub checkout_id: String,
    /// The refund (`rfd_…`); webhooks carry the same id.
    pub refund_id: String,
    /// The status the service reported (`successful`, `pending`, or any
    /// other value as sent).
    pub status: String,
    /// Whether `status` says the refund was made (`successful` or
    /// `succeeded`); `pending`, `failed` and anything else are not.
    pub succeeded: bool,
    /// The service's message, e.g. `Your refund has been processed`.
    pub message: Option<String>,
    /// The idempotency key actually sent: persist it to retry safely.
    pub idempotency_key: String,
    /// Whether the service replayed an earlier answer for this key.
    pub replayed: bool,
    /// How many HTTP attempts this call made.
    pub attempts: i32,
    /// The server's request id, when it sent one.
    pub request_id: Option<String>,
    /// Milliseconds from the first attempt's start to the answer, backoff included.
    pub elapsed_ms: i64,
}

impl From<refundkit::Refund> for Refund {
    fn from(r: refundkit::Refund) -> Self {
        Self {
            checkout_id: r.checkout_id,
            refund_id: r.refund_id,
            status: r.status.as_str().to_owned(),
            succeeded: r.status.is_success(),
            message: r.message,
            idempotency_key: r.idempotency_key,
            replayed: r.replayed,
            attempts: i32::try_from(r.attempts).unwrap_or(i32::MAX),
            request_id: r.request_id,
            elapsed_ms: i64::try_from(r.elapsed.as_millis()).unwrap_or(i64::MAX),
        }
    }
}

/// Supplies the bearer token of token mode; implemented by the app (Kotlin
/// `suspend fun token(forceRefresh: Boolean): String`, Swift
/// `func token(forceRefresh: Bool) async throws -> String`).
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync {
    /// The token for the relay. `force_refresh` is true after the relay
    /// refused the previous one (401): fetch a new one, do not reuse a cache.
    async fn token(&self, force_refresh: bool) -> Result<String, RefundError>;
}

/// A foreign [`TokenProvider`] as the core's provider.
struct ForeignTokens(Arc<dyn TokenProvider>);

impl refundkit::TokenProvider for ForeignTokens {
    fn token(&self, force_refresh: bool) -> refundkit::TokenFuture {
        let provider = Arc::clone(&self.0);
        Box::pin(async move {
            provider.token(force_refresh).await.map_err(|e| {
                refundkit::Error::new(
                    refundkit::ErrorKind::Authentication,
                    format!("the token provider failed: {e}"),
                )
            })
        })
    }
}

/// Refunds checkouts. Thread-safe and cheap to share: make one per process.
///
/// Every call validates its arguments before any I/O, sends one idempotency
/// key on every attempt (the caller's or a fresh UUIDv4) and retries
/// connection failures, timeouts, 409, 429 and 5xx within the total timeout.
#[derive(uniffi::Object)]
#[uniffi::export(Display)]
pub struct RefundClient {
    inner: refundkit::Client,
}

impl fmt::Display for RefundClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = self.inner.config();
        let credential = if config.is_relay() {
            "token_provider=…".to_owned()
        } else {
            format!("secret_key={}", config.masked_secret_key())
        };
        write!(
            f,
            "RefundClient(base_url={}, {credential}, max_retries={})",
            config.base_url(),
            config.max_retries()
        )
    }
}

#[uniffi::export]
impl RefundClient {
    /// Validates `config` and builds the client; nothing is sent yet.
    /// Throws `Configuration` for a bad key, base URL or limit.
    ///
    /// Server-side only: a secret key must never ship inside an app. Apps
    /// use `forRelay` (token mode) through the merchant's relay.
    #[uniffi::constructor]
    pub fn new(config: ClientConfig) -> Result<Self, RefundError> {
        let runtime = config
            .platform
            .clone()
            .unwrap_or_else(|| std::env::consts::OS.to_owned());
        let mut builder =
            refundkit::Client::builder(config.secret_key).user_agent_binding("uniffi", runtime);
        if let Some(url) = config.base_url {
            builder = builder.base_url(url);
        }
        if let Some(retries) = config.max_retries {
            builder = builder.max_retries(retries);
        }
        if let Some(ms) = config.timeout_ms {
            builder = builder.timeout(Duration::from_millis(ms));
        }
        if let Some(ms) = config.total_timeout_ms {
            builder = builder.total_timeout(Duration::from_millis(ms));
        }
        if let Some(proxy) = config.proxy {
            builder = builder.proxy(proxy);
        }
        Ok(Self {
            inner: builder.build()?,
        })
    }

    /// Refunds `checkout_id`: everything still refundable, or `amount`
    /// cents. `metadata` is recorded with the refund; `idempotency_key`
    /// replaces the generated key (reuse it to retry safely).
    ///
    /// Cancelling the caller (coroutine or task) abandons the call; the
    /// refund may still have been made. To learn the key of a call you may
    /// cancel, use `prepare` and `PreparedRefund.send` instead.
    #[uniffi::method(default(amount = None, metadata = None, idempotency_key = None))]
    pub async fn refund(
        &self,
        checkout_id: String,
        amount: Option<i64>,
        metadata: Option<HashMap<String, String>>,
        idempotency_key: Option<String>,
    ) -> Result<Refund, RefundError> {
        self.prepared(checkout_id, amount, metadata, idempotency_key)
            .send()
            .await
    }

    /// The blocking twin of `refund`: same behaviour, same errors; blocks
    /// the calling thread.
    #[uniffi::method(default(amount = None, metadata = None, idempotency_key = None))]
    pub fn refund_blocking(
        &self,
        checkout_id: String,
        amount: Option<i64>,
        metadata: Option<HashMap<String, String>>,
        idempotency_key: Option<String>,
    ) -> Result<Refund, RefundError> {
        self.prepared(checkout_id, amount, metadata, idempotency_key)
            .send_blocking()
    }

    /// Checks the arguments and fixes the idempotency key (`idempotency_key`
    /// or a fresh UUIDv4) without sending anything. Read
    /// `PreparedRefund.idempotencyKey` and store it before `send()`: if the
    /// caller is cancelled mid-call, retrying with that key never refunds
    /// twice. Throws `InvalidInput` for a bad argument.
    #[uniffi::method(default(amount = None, metadata = None, idempotency_key = None))]
    pub fn prepare(
        &self,
        checkout_id: String,
        amount: Option<i64>,
        metadata: Option<HashMap<String, String>>,
        idempotency_key: Option<String>,
    ) -> Result<Arc<PreparedRefund>, RefundError> {
        let prepared = self.prepared(checkout_id, amount, metadata, idempotency_key);
        prepared.request.validate()?;
        Ok(Arc::new(prepared))
    }

    /// A token-mode client for apps: refunds go to the merchant's relay at
    /// `base_url` with bearer tokens from `token_provider`; the secret key
    /// stays on the merchant's server. Same refund, key, retry and error
    /// behaviour as the secret-key client. After a 401 from the relay,
    /// `token_provider` is asked once with `forceRefresh = true` and the
    /// attempt is repeated with the same idempotency key. A token that looks
    /// like a secret key fails with `Configuration` before anything is sent.
    /// `None` settings take the core's defaults.
    #[uniffi::constructor(default(max_retries = None, timeout_ms = None, total_timeout_ms = None))]
    pub fn for_relay(
        base_url: String,
        token_provider: Arc<dyn TokenProvider>,
        max_retries: Option<u32>,
        timeout_ms: Option<u64>,
        total_timeout_ms: Option<u64>,
    ) -> Result<Self, RefundError> {
        let mut builder =
            refundkit::Client::builder_for_relay(base_url, ForeignTokens(token_provider))
                .user_agent_binding("uniffi", std::env::consts::OS);
        if let Some(retries) = max_retries {
            builder = builder.max_retries(retries);
        }
        if let Some(ms) = timeout_ms {
            builder = builder.timeout(Duration::from_millis(ms));
        }
        if let Some(ms) = total_timeout_ms {
            builder = builder.total_timeout(Duration::from_millis(ms));
        }
        Ok(Self {
            inner: builder.build()?,
        })
    }

    /// The base URL requests go to, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.inner.config().base_url().to_owned()
    }
}

impl RefundClient {
    /// The request for these arguments with its key fixed by core; core
    /// validates it again when it is sent.
    fn prepared(
        &self,
        checkout_id: String,
        amount: Option<i64>,
        metadata: Option<HashMap<String, String>>,
        idempotency_key: Option<String>,
    ) -> PreparedRefund {
        let mut request = refundkit::RefundRequest {
            checkout_id,
            amount,
            metadata: metadata.map(|m| m.into_iter().collect()),
            idempotency_key,
        };
        request.fix_idempotency_key();
        PreparedRefund {
            client: self.inner.clone(),
            request,
        }
    }
}

/// A refund whose arguments are checked and whose idempotency key is
/// fixed, not sent yet. Made by `RefundClient.prepare`.
///
/// Every `send` sends the same key, so sending again after a failure or a
/// cancellation replays the first refund instead of making a second.
#[derive(uniffi::Object)]
#[uniffi::export(Display)]
pub struct PreparedRefund {
    client: refundkit::Client,
    request: refundkit::RefundRequest,
}

impl fmt::Display for PreparedRefund {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PreparedRefund(checkout_id={}, idempotency_key={})",
            self.request.checkout_id,
            self.idempotency_key()
        )
    }
}

#[uniffi::export]
impl PreparedRefund {
    /// The key every `send` of this refund sends.
    pub fn idempotency_key(&self) -> String {
        self.request.idempotency_key.clone().unwrap_or_default()
    }

    /// Sends the refund (retrying as `RefundClient.refund` does).
    /// Cancelling the caller abandons the call; send again to learn the
    /// outcome.
    pub async fn send(&self) -> Result<Refund, RefundError> {
        let client = self.client.clone();
        let request = self.request.clone();
        runtime::spawn(async move { Ok(client.refund(request).await?.into()) }).await
    }

    /// The blocking twin of `send`.
    pub fn send_blocking(&self) -> Result<Refund, RefundError> {
        let client = self.client.clone();
        let request = self.request.clone();
        runtime::block_on(async move { Ok(client.refund(request).await?.into()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk_live_0123456789abcdefWXYZ";

    fn config() -> ClientConfig {
        ClientConfig {
            secret_key: KEY.to_owned(),
            base_url: Some("http://127.0.0.1:9".to_owned()),
            max_retries: Some(0),
            timeout_ms: Some(1000),
            total_timeout_ms: Some(1000),
            platform: None,
            proxy: None,
        }
    }

    #[test]
    fn config_and_client_text_never_show_the_secret() {
        let config = config();
        let client = RefundClient::new(config.clone()).expect("client");
        for text in [
            format!("{config}"),
            format!("{config:?}"),
            client.to_string(),
        ] {
            assert!(!text.contains("0123456789"), "{text}");
            assert!(text.contains("sk_live_…WXYZ"), "{text}");
        }
    }

    #[test]
    fn bad_input_is_refused_before_any_io() {
        let client = RefundClient::new(config()).expect("client");
        let err = client
            .refund_blocking("ch 1".to_owned(), None, None, None)
            .expect_err("invalid");
        assert_eq!(err.kind(), "invalid_input");
        assert_eq!(err.info().field_name.as_deref(), Some("checkout_id"));
        assert_eq!(err.info().attempts, 0);
    }

    #[test]
    fn a_closed_port_is_a_network_error_with_the_key() {
        let client = RefundClient::new(config()).expect("client");
        let err = client
            .refund_blocking("ch_1".to_owned(), None, None, Some("k-1".to_owned()))
            .expect_err("closed port");
        assert_eq!(err.kind(), "network");
        assert_eq!(err.info().idempotency_key.as_deref(), Some("k-1"));
    }

    #[test]
    fn a_prepared_refund_has_its_key_before_it_is_sent() {
        let client = RefundClient::new(config()).expect("client");
        let prepared = client
            .prepare("ch_1".to_owned(), None, None, None)
            .expect("valid");
        let key = prepared.idempotency_key();
        assert_eq!(key.len(), 36, "a UUID: {key}");
        let err = prepared.send_blocking().expect_err("closed port");
        assert_eq!(err.info().idempotency_key.as_deref(), Some(key.as_str()));
        let err = client
            .prepare("ch 1".to_owned(), None, None, None)
            .err()
            .expect("invalid");
        assert_eq!(err.kind(), "invalid_input");
    }

    struct FixedToken(&'static str);

    #[async_trait::async_trait]
    impl TokenProvider for FixedToken {
        async fn token(&self, _force_refresh: bool) -> Result<String, RefundError> {
            Ok(self.0.to_owned())
        }
    }

    #[test]
    fn a_relay_client_refuses_a_secret_key_as_its_token_before_sending() {
        let client = RefundClient::for_relay(
            "http://127.0.0.1:9".to_owned(),
            Arc::new(FixedToken(KEY)),
            Some(0),
            None,
            None,
        )
        .expect("client");
        assert!(client.to_string().contains("token_provider"), "{client}");
        let err = client
            .refund_blocking("ch_1".to_owned(), None, None, None)
            .expect_err("secret key as token");
        assert_eq!(err.kind(), "configuration");
        assert_eq!(err.info().field_name.as_deref(), Some("token"));
        assert_eq!(err.info().attempts, 0);
        assert!(!err.to_string().contains("0123456789"));
    }

    #[test]
    fn bad_configuration_is_a_configuration_error() {
        let err = RefundClient::new(ClientConfig {
            secret_key: "pk_live_nope".to_owned(),
            ..config()
        })
        .err()
        .expect("refused");
        assert_eq!(err.kind(), "configuration");
        assert!(!err.to_string().contains("nope"));
    }
}
