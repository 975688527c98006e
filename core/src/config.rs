//! Client configuration, validated once when the client is built.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::policy::{Clock, Jitter, Sleep, Timing};
use crate::redact::SecretKey;
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
    pub(crate) secret_key: SecretKey,
    pub(crate) base_url: String,
    pub(crate) max_retries: u32,
    pub(crate) timeout: Duration,
    pub(crate) total_timeout: Duration,
    pub(crate) user_agent: String,
    pub(crate) timing: Timing,
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
    /// The secret key, masked (`sk_live_…abcd`).
    pub fn masked_secret_key(&self) -> String {
        self.secret_key.masked()
    }
    /// Whether the key is a live-mode key.
    pub fn is_live(&self) -> bool {
        self.secret_key.is_live()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("secret_key", &self.secret_key)
            .field("base_url", &self.base_url)
            .field("max_retries", &self.max_retries)
            .field("timeout", &self.timeout)
            .field("total_timeout", &self.total_timeout)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// Builds a [`Client`]. Start from [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    secret_key: String,
    base_url: Option<String>,
    max_retries: u32,
    timeout: Duration,
    total_timeout: Duration,
    binding: String,
    runtime: String,
    timing: Timing,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("secret_key", &crate::redact::mask_secret(&self.secret_key))
            .field("base_url", &self.base_url)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(crate) fn new(secret_key: String) -> Self {
        Self {
            secret_key,
            base_url: None,
            max_retries: DEFAULT_MAX_RETRIES,
            timeout: DEFAULT_TIMEOUT,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            binding: "rust".to_owned(),
            runtime: "tokio".to_owned(),
            timing: Timing::default(),
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
        validate::secret_key(&self.secret_key)?;
        let raw_url = self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        let url = validate::base_url(raw_url)?;
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
            secret_key: SecretKey::new(self.secret_key),
            base_url: url.as_str().trim_end_matches('/').to_owned(),
            max_retries: self.max_retries,
            timeout: self.timeout,
            total_timeout: self.total_timeout,
            user_agent,
            timing: self.timing,
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
