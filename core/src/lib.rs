//! refundkit: refunds through the Checkout API, done right.
//!
//! - [`protocol`] builds the refund request and parses any answer (no I/O).
//! - [`policy`] decides retries, backoff and the idempotency key.
//! - [`Client`] (async) and [`blocking::Client`] send it with reqwest + rustls.
//! - [`webhooks`] verifies Standard Webhooks signatures and types the events.
//! - [`Error`] is the one error type, with the idempotency key on it.
//! - [`token`]: token mode, for apps refunding through the merchant's relay
//!   ([`Client::builder_for_relay`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), refundkit::Error> {
//! let client = refundkit::Client::new("sk_live_...")?;
//! let refund = client.refund(refundkit::RefundRequest::new("ch_123")).await?;
//! assert!(!refund.idempotency_key.is_empty());
//! # Ok(()) }
//! ```

pub mod blocking;
mod client;
pub mod config;
pub mod defaults;
pub mod error;
pub mod keys;
pub mod log_forward;
pub mod logs;
pub mod policy;
pub mod protocol;
pub mod redact;
pub mod token;
mod transport;
pub mod validate;
pub mod webhooks;

pub use client::Client;
pub use config::{ClientBuilder, Config};
pub use error::{Error, ErrorKind, Result};
pub use keys::idempotency_key_for;
pub use protocol::{Refund, RefundRequest, RefundStatus};
pub use token::{TokenFuture, TokenProvider};
pub use webhooks::{
    EventData, PaymentEvent, RefundEvent, WebhookEvent, WebhookSigner, WebhookVerifier,
};

/// The crate version, as sent in the `User-Agent`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
