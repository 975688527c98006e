//! Token mode: a client of the merchant's relay (DESIGN.md, "Apps: token
//! mode and the relay"). The client sends a bearer token from a
//! [`TokenProvider`] instead of the secret key, which only the relay holds.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::HeaderValue;

use crate::error::{Error, ErrorKind, Result};
use crate::redact::SecretKey;

/// Boxed future returned by [`TokenProvider::token`].
pub type TokenFuture = Pin<Box<dyn Future<Output = Result<String>> + Send>>;

/// Supplies the bearer token of token mode.
///
/// Called before a refund's first attempt with `force_refresh = false`
/// (return a cached token if it is still good), and once more with
/// `force_refresh = true` after the relay answered 401, before the attempt
/// is repeated with the same idempotency key.
///
/// Any `Fn(bool) -> impl Future<Output = Result<String>>` is a provider.
pub trait TokenProvider: Send + Sync {
    /// The token to send.
    fn token(&self, force_refresh: bool) -> TokenFuture;
}

impl<F, Fut> TokenProvider for F
where
    F: Fn(bool) -> Fut + Send + Sync,
    Fut: Future<Output = Result<String>> + Send + 'static,
{
    fn token(&self, force_refresh: bool) -> TokenFuture {
        Box::pin(self(force_refresh))
    }
}

/// What a client authenticates with.
#[derive(Clone)]
pub(crate) enum Credential {
    /// The secret key (server side).
    SecretKey(SecretKey),
    /// Tokens for the merchant's relay (apps).
    Relay(Arc<dyn TokenProvider>),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SecretKey(key) => fmt::Debug::fmt(key, f),
            Self::Relay(_) => f.write_str("relay token"),
        }
    }
}

/// The `Authorization` value of an attempt, and the credential text to
/// mask in whatever the server answers.
#[derive(Clone)]
pub(crate) struct Bearer {
    pub(crate) header: HeaderValue,
    pub(crate) secret: Arc<str>,
    /// A searcher for `secret`, built once: every answer is searched for it.
    pub(crate) finder: Arc<memchr::memmem::Finder<'static>>,
}

impl Bearer {
    /// `Bearer <credential>`, marked sensitive. `field` names the setting
    /// in the error if the credential cannot be a header value.
    pub(crate) fn new(credential: &str, field: &'static str) -> Result<Self> {
        let mut header = HeaderValue::from_str(&format!("Bearer {credential}")).map_err(|_| {
            Error::invalid(
                ErrorKind::Configuration,
                field,
                "is not a valid header value",
            )
        })?;
        header.set_sensitive(true);
        Ok(Self {
            header,
            secret: Arc::from(credential),
            finder: Arc::new(memchr::memmem::Finder::new(credential).into_owned()),
        })
    }

    /// Asks `provider` for a token and checks it before anything is sent.
    pub(crate) async fn from_provider(
        provider: &dyn TokenProvider,
        force_refresh: bool,
    ) -> Result<Self> {
        let token = provider.token(force_refresh).await?;
        crate::validate::token(&token)?;
        Self::new(&token, "token")
    }
}
