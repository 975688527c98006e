//! refundkit-relay: the backend half of token mode. Merchant apps hold a
//! JWT instead of the secret key; the relay verifies it, applies the
//! caller's role policy and limits, forwards the refund through the core
//! client with the secret key, answers what the service answered, and
//! journals every decision.
//!
//! - [`auth_file`]: the `--auth` TOML (issuer, keys, roles).
//! - [`token`]: JWT verification (jsonwebtoken; HS256 and JWKS keys).
//! - [`policy`]: which role applies and its per-refund limits.
//! - [`rate`]: the per-subject rate limit.
//! - [`store`]: the journal and the daily-limit counters ([`RelayStore`]:
//!   a SQLite file, or PostgreSQL shared by several relays).
//! - [`answer`]: the relay's own answers and the service's, passed back.
//! - [`upstream`]: the core client and the upstream idempotency key.
//! - [`runtime`]: the tokio runtime the relay serves on.
//! - [`Relay`]: serving, and the graceful stop.

pub mod answer;
pub mod auth_file;
pub mod policy;
pub mod rate;
mod refunds;
pub mod runtime;
mod server;
pub mod store;
pub mod token;
pub mod upstream;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use auth_file::{AuthFile, RolePolicy};
pub use policy::Policies;
pub use server::{Relay, StartError};
pub use store::{PgStore, RelayStore, SqliteStore};
pub use token::TokenVerifier;

/// A configuration problem, found before anything is served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    /// A configuration error saying `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Everything a [`Relay`] needs. `Debug` never shows the secret key.
pub struct RelayConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The API base URL refunds are forwarded to.
    pub upstream: String,
    /// The secret key (`sk_live_…`) the relay holds for the apps.
    pub secret_key: String,
    /// Verifies the apps' tokens.
    pub verifier: TokenVerifier,
    /// The roles.
    pub policies: Policies,
    /// The journal and daily counters.
    pub store: Arc<dyn RelayStore>,
    /// Time allowed for one upstream attempt ([`upstream::ATTEMPT_TIMEOUT`]).
    pub attempt_timeout: Duration,
    /// Time allowed for all upstream attempts of one request
    /// ([`upstream::TOTAL_TIMEOUT`]).
    pub total_timeout: Duration,
}

impl RelayConfig {
    /// A configuration from a loaded auth file; `env` reads the variable
    /// holding the HS256 secret.
    pub fn new(
        listen: SocketAddr,
        upstream: impl Into<String>,
        secret_key: impl Into<String>,
        auth: AuthFile,
        env: impl Fn(&str) -> Option<String>,
        store: Arc<dyn RelayStore>,
    ) -> Result<Self, ConfigError> {
        let verifier = TokenVerifier::new(&auth.jwt, env)?;
        Ok(Self {
            listen,
            upstream: upstream.into(),
            secret_key: secret_key.into(),
            verifier,
            policies: Policies::new(auth.roles),
            store,
            attempt_timeout: upstream::ATTEMPT_TIMEOUT,
            total_timeout: upstream::TOTAL_TIMEOUT,
        })
    }
}

impl fmt::Debug for RelayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayConfig")
            .field("listen", &self.listen)
            .field("upstream", &self.upstream)
            .field(
                "secret_key",
                &refundkit::redact::mask_secret(&self.secret_key),
            )
            .field("verifier", &self.verifier)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("total_timeout", &self.total_timeout)
            .finish_non_exhaustive()
    }
}
