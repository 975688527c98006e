//! Client configuration, validated once when the client is built.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::policy::{Clock, Jitter, Sleep, Timing};
use crate::redact::SecretKey;
use crate::token::{Credential, TokenProvider};
use crate::{validate, Client};

pub use crate::defaults::{
    BASE_URL as DEFAULT_BASE_URL, MAX_RETRIES as DEFAULT_MAX_RETRIES, TIMEOUT as DEFAULT_TIMEOUT,
    TOTAL_TIMEOUT as DEFAULT_TOTAL_TIMEOUT,
};
/// Most retries accepted.
pub const MAX_MAX_RETRIES: u32 = 10;

/// A validated client configuration. `Debug` masks the secret key.
#[derive(Clone)]
pub struct Config {
    pub(crate) credential: Credential,
    pub(crate) base_url: String,
    pub(crate) max_retries: u32,
    pub(crate) timeout: Duration,
    pub(crate) total_timeout: Duration,
    pub(crate) user_agent: String,
    pub(crate) timing: Timing,
    /// The proxy for this client's requests, when one applies (see
    /// [`ClientBuilder::proxy`]).
    pub(crate) proxy: Option<url::Url>,
}

impl Config {
    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
    /// Retries after the first attempt.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }
    /// Time allowed for one attempt.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
    /// Time allowed for all attempts of one call.
    pub fn total_timeout(&self) -> Duration {
        self.total_timeout
    }
    /// The `User-Agent` sent.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }
    /// The secret key, masked (`sk_live_…abcd`); `relay token` in token mode.
    pub fn masked_secret_key(&self) -> String {
        format!("{:?}", self.credential)
    }
    /// Whether the key is a live-mode key (false in token mode: the relay
    /// holds the key).
    pub fn is_live(&self) -> bool {
        matches!(&self.credential, Credential::SecretKey(key) if key.is_live())
    }
    /// Whether this client is in token mode (a client of the merchant's relay).
    pub fn is_relay(&self) -> bool {
        matches!(self.credential, Credential::Relay(_))
    }
    /// The proxy requests go through (scheme, host and port only), if any.
    pub fn proxy(&self) -> Option<String> {
        self.proxy.as_ref().map(proxy_display)
    }
}

/// A proxy URL without its credentials, for `Debug` and [`Config::proxy`].
fn proxy_display(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// Which proxy, if any, carries requests to `base` (ADR 0009):
/// - loopback targets and plain-http targets never go through one (over
///   plain http the proxy would read the key);
/// - otherwise the explicitly configured proxy, else `HTTPS_PROXY`
///   (`https_proxy`) from the environment, unless `NO_PROXY` exempts the
///   host. `HTTP_PROXY` and `ALL_PROXY` are ignored.
///
/// An https request goes through an `http://` proxy as a `CONNECT` tunnel:
/// TLS runs end to end, so the proxy never sees the key.
pub fn proxy_for(
    base: &url::Url,
    explicit: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<url::Url>> {
    if base.scheme() != "https" || validate::is_loopback(base) {
        return Ok(None);
    }
    let from_env = || {
        let value = env("HTTPS_PROXY").or_else(|| env("https_proxy"))?;
        let no_proxy = env("NO_PROXY")
            .or_else(|| env("no_proxy"))
            .unwrap_or_default();
        let host = base.host_str().unwrap_or_default();
        let exempt = no_proxy.split(',').map(str::trim).any(|rule| {
            rule == "*"
                || (!rule.is_empty()
                    && (host == rule.trim_start_matches('.')
                        || host.ends_with(&format!(".{}", rule.trim_start_matches('.')))))
        });
        (!exempt && !value.trim().is_empty()).then_some(value)
    };
    let Some(raw) = explicit.map(str::to_owned).or_else(from_env) else {
        return Ok(None);
    };
    let bad = |problem: &str| Error::invalid(ErrorKind::Configuration, "proxy", problem);
    let url = url::Url::parse(raw.trim()).map_err(|_| bad("is not a valid URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad("must be an http:// or https:// URL with a host"));
    }
    Ok(Some(url))
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("credential", &self.credential)
            .field("base_url", &self.base_url)
            .field("max_retries", &self.max_retries)
            .field("timeout", &self.timeout)
            .field("total_timeout", &self.total_timeout)
            .field("user_agent", &self.user_agent)
            .field("proxy", &self.proxy())
            .finish()
    }
}

/// Builds a [`Client`]. Start from [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    credential: PendingCredential,
    base_url: Option<String>,
    max_retries: u32,
    timeout: Duration,
    total_timeout: Duration,
    binding: String,
    runtime: String,
    timing: Timing,
    proxy: Option<String>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("credential", &self.credential)
            .field("base_url", &self.base_url)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

/// A builder's credential, checked when the client is built.
enum PendingCredential {
    SecretKey(String),
    Relay(Arc<dyn TokenProvider>),
}

impl fmt::Debug for PendingCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SecretKey(key) => f.write_str(&crate::redact::mask_secret(key)),
            Self::Relay(_) => f.write_str("relay token"),
        }
    }
}

impl ClientBuilder {
    pub(crate) fn new(secret_key: String) -> Self {
        Self::with_credential(PendingCredential::SecretKey(secret_key))
    }

    pub(crate) fn for_relay(url: String, provider: Arc<dyn TokenProvider>) -> Self {
        let mut builder = Self::with_credential(PendingCredential::Relay(provider));
        builder.base_url = Some(url);
        builder
    }

    fn with_credential(credential: PendingCredential) -> Self {
        Self {
            credential,
            base_url: None,
            max_retries: DEFAULT_MAX_RETRIES,
            timeout: DEFAULT_TIMEOUT,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            binding: "rust".to_owned(),
            runtime: "tokio".to_owned(),
            timing: Timing::default(),
            proxy: None,
        }
    }

    /// Sends requests to `url` instead of the production service
    /// (`https`, or `http` on a loopback host).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
    /// Retries after the first attempt (0 to 10; default 2).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }
    /// Time allowed for one attempt (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Time allowed for all attempts of one call (default 90 s).
    pub fn total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = timeout;
        self
    }
    /// Names the binding and runtime in the `User-Agent`
    /// (`refundkit/<version> (<binding>; <runtime>)`).
    pub fn user_agent_binding(
        mut self,
        binding: impl Into<String>,
        runtime: impl Into<String>,
    ) -> Self {
        self.binding = binding.into();
        self.runtime = runtime.into();
        self
    }
    /// Sends https requests through this proxy (`http://host:port`, a
    /// `CONNECT` tunnel, or `https://…`) instead of `HTTPS_PROXY`'s.
    /// Loopback targets never go through a proxy, and plain-http targets
    /// never do either: see [`proxy_for`].
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }
    /// Replaces the timer used between attempts (for tests).
    pub fn sleeper(mut self, sleep: Arc<dyn Sleep>) -> Self {
        self.timing.sleep = sleep;
        self
    }
    /// Replaces the backoff jitter source (for tests).
    pub fn jitter(mut self, jitter: Arc<dyn Jitter>) -> Self {
        self.timing.jitter = jitter;
        self
    }
    /// Replaces the clock `total_timeout` is measured on (for tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.timing.clock = clock;
        self
    }

    /// Validates everything and returns the configuration.
    pub fn into_config(self) -> Result<Config> {
        let credential = match self.credential {
            PendingCredential::SecretKey(key) => {
                validate::secret_key(&key)?;
                Credential::SecretKey(SecretKey::new(key))
            }
            PendingCredential::Relay(provider) => Credential::Relay(provider),
        };
        let raw_url = self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        let url = validate::base_url(raw_url)?;
        let proxy = proxy_for(&url, self.proxy.as_deref(), |name| std::env::var(name).ok())?;
        if self.max_retries > MAX_MAX_RETRIES {
            return Err(Error::invalid(
                ErrorKind::Configuration,
                "max_retries",
                format_args!("must be from 0 to {MAX_MAX_RETRIES}"),
            ));
        }
        for (field, d) in [
            ("timeout", self.timeout),
            ("total_timeout", self.total_timeout),
        ] {
            if d.is_zero() || d > Duration::from_secs(3600) {
                return Err(Error::invalid(
                    ErrorKind::Configuration,
                    field,
                    "must be more than 0 and at most 3600 seconds",
                ));
            }
        }
        let clean = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_ascii_graphic() || *c == ' ')
                .filter(|c| !matches!(c, '(' | ')' | ';'))
                .collect()
        };
        let user_agent = format!(
            "refundkit/{} ({}; {})",
            env!("CARGO_PKG_VERSION"),
            clean(&self.binding),
            clean(&self.runtime)
        );
        Ok(Config {
            credential,
            base_url: url.as_str().trim_end_matches('/').to_owned(),
            max_retries: self.max_retries,
            timeout: self.timeout,
            total_timeout: self.total_timeout,
            user_agent,
            timing: self.timing,
            proxy,
        })
    }

    /// Builds the async client.
    pub fn build(self) -> Result<Client> {
        Client::from_config(self.into_config()?)
    }

    /// Builds the blocking client, which runs on a shared background runtime.
    pub fn build_blocking(self) -> Result<crate::blocking::Client> {
        Ok(crate::blocking::Client::from_async(self.build()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn proxy(base: &str, explicit: Option<&str>, vars: &'static [(&str, &str)]) -> Option<String> {
        let base = url::Url::parse(base).expect("url");
        proxy_for(&base, explicit, env(vars))
            .expect("valid")
            .map(|u| proxy_display(&u))
    }

    #[test]
    fn only_https_proxy_or_an_explicit_proxy_carries_https_requests() {
        let all = &[("HTTP_PROXY", "http://p:1"), ("ALL_PROXY", "http://p:2")];
        assert_eq!(proxy("https://api.example", None, all), None);
        let https = &[("HTTPS_PROXY", "http://p:3")];
        assert_eq!(
            proxy("https://api.example", None, https).as_deref(),
            Some("http://p:3")
        );
        assert_eq!(
            proxy("https://api.example", Some("http://me:s3cret@q:4"), https).as_deref(),
            Some("http://q:4")
        );
    }

    #[test]
    fn loopback_and_plain_http_are_never_proxied() {
        let https = &[("HTTPS_PROXY", "http://p:3")];
        for base in [
            "http://127.0.0.1:8080",
            "https://localhost:8443",
            "https://[::1]:1",
        ] {
            assert_eq!(proxy(base, Some("http://q:4"), https), None, "{base}");
        }
    }

    #[test]
    fn no_proxy_exempts_hosts_and_bad_proxies_are_configuration_errors() {
        let vars = &[
            ("HTTPS_PROXY", "http://p:3"),
            ("NO_PROXY", "other, .example"),
        ];
        assert_eq!(proxy("https://api.example", None, vars), None);
        let base = url::Url::parse("https://api.example").expect("url");
        let err = proxy_for(&base, Some("socks5://x:1"), env(&[])).expect_err("scheme");
        assert_eq!(err.field(), Some("proxy"));
    }
}
