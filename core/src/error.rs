//! The one error type of refundkit.
//!
//! Every failure, from a bad argument to a 5xx after three attempts, is an
//! [`Error`] with an [`ErrorKind`] and the same set of fields, so bindings
//! convert it in one place and callers can always find the idempotency key
//! they need to retry safely.

use std::fmt;
use std::time::Duration;

use crate::policy::classify::{self as policy, Delivery};

pub(crate) mod kind;
pub use kind::ErrorKind;

/// A refundkit failure. Cheap to move (one box); every field is optional
/// except the kind and message.
///
/// The secret key never appears in any of its fields or in its `Display`
/// and `Debug` output.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.inner))]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone, PartialEq, Eq, Default)]
struct Inner {
    kind: Option<ErrorKind>,
    message: String,
    field: Option<&'static str>,
    status: Option<u16>,
    error_code: Option<String>,
    request_id: Option<String>,
    idempotency_key: Option<String>,
    body: Option<String>,
    retryable: bool,
    outcome_unknown: bool,
    replayed: bool,
    attempts: u32,
    retry_after: Option<Duration>,
}

impl Error {
    /// A new error of `kind`, classified by [`crate::policy`]: retryable
    /// per [`policy::is_retryable`], and outcome-unknown per
    /// [`policy::leaves_outcome_unknown`] assuming the request may have been
    /// sent (the transport re-classifies a failed connect as certainly not sent).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind: Some(kind),
                message: message.into(),
                retryable: policy::is_retryable(kind),
                outcome_unknown: policy::leaves_outcome_unknown(kind, Delivery::MaybeSent),
                ..Inner::default()
            }),
        }
    }

    /// An [`ErrorKind::InvalidInput`] (or configuration) error naming `field`.
    pub(crate) fn invalid(
        kind: ErrorKind,
        field: &'static str,
        problem: impl fmt::Display,
    ) -> Self {
        let mut e = Self::new(kind, format!("{field}: {problem}"));
        e.inner.field = Some(field);
        e
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind.unwrap_or(ErrorKind::UnexpectedResponse)
    }
    /// A human-readable explanation, from the server when it gave one.
    pub fn message(&self) -> &str {
        &self.inner.message
    }
    /// For invalid input and configuration: the argument at fault.
    pub fn field(&self) -> Option<&'static str> {
        self.inner.field
    }
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }
    /// The server's `errorCode`, when it sent one.
    pub fn error_code(&self) -> Option<&str> {
        self.inner.error_code.as_deref()
    }
    /// The server's request id (`x-request-id`), when it sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }
    /// The idempotency key that was sent. Retry later with this key and the
    /// service will never refund twice.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.inner.idempotency_key.as_deref()
    }
    /// The raw response body, when there was one (lossily decoded as UTF-8).
    pub fn body(&self) -> Option<&str> {
        self.inner.body.as_deref()
    }
    /// Whether retrying the same request (same key) later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.inner.retryable
    }
    /// Whether the refund may have been made although this call failed.
    /// When true, retry with [`Error::idempotency_key`] to learn the outcome.
    pub fn is_outcome_unknown(&self) -> bool {
        self.inner.outcome_unknown
    }
    /// Whether the server replayed the stored answer of an earlier request
    /// with the same idempotency key (`Idempotent-Replayed: true`).
    pub fn is_replayed(&self) -> bool {
        self.inner.replayed
    }
    /// How many HTTP attempts were made (0 when nothing was sent).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }
    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }
    pub(crate) fn with_error_code(mut self, code: Option<String>) -> Self {
        self.inner.error_code = code;
        self
    }
    pub(crate) fn with_request_id(mut self, id: Option<String>) -> Self {
        self.inner.request_id = id;
        self
    }
    pub(crate) fn with_idempotency_key(mut self, key: &str) -> Self {
        self.inner.idempotency_key = Some(key.to_owned());
        self
    }
    pub(crate) fn with_body(mut self, body: Option<String>) -> Self {
        self.inner.body = body;
        self
    }
    /// Re-classifies the outcome for whether the request may have been sent.
    pub(crate) fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.inner.outcome_unknown = policy::leaves_outcome_unknown(self.kind(), delivery);
        self
    }
    pub(crate) fn with_outcome_unknown(mut self, unknown: bool) -> Self {
        self.inner.outcome_unknown = unknown;
        self
    }
    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.inner.attempts = attempts;
        self
    }
    pub(crate) fn with_replayed(mut self, replayed: bool) -> Self {
        self.inner.replayed = replayed;
        self
    }
    pub(crate) fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.inner.retry_after = after;
        self
    }

    /// Replaces every occurrence of `secret` in every text field, the
    /// server's request id included: a server may echo the key back.
    pub(crate) fn scrubbed(mut self, secret: &str) -> Self {
        let i = &mut *self.inner;
        if let Some(body) = i.body.as_mut() {
            crate::redact::scrub_json_text(body, secret);
        }
        for text in [&mut i.message]
            .into_iter()
            .chain(i.body.as_mut())
            .chain(i.error_code.as_mut())
            .chain(i.request_id.as_mut())
        {
            crate::redact::scrub_text(text, secret);
        }
        self
    }
}

/// The `Display` text: for people, with the advice to retry when the
/// outcome is unknown.
fn render(i: &Inner) -> String {
    let kind = i.kind.unwrap_or(ErrorKind::UnexpectedResponse);
    let mut out = format!("{}: {}", kind.title(), i.message);
    if let Some(status) = i.status {
        out.push_str(&format!(" (HTTP {status})"));
    }
    if i.outcome_unknown {
        if let Some(key) = &i.idempotency_key {
            out.push_str(&format!(
                "; the refund may have been made: retry with idempotency key {key}"
            ));
        }
    }
    out
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Error")
            .field("kind", &self.kind())
            .field("message", &i.message)
            .field("field", &i.field)
            .field("status", &i.status)
            .field("error_code", &i.error_code)
            .field("request_id", &i.request_id)
            .field("idempotency_key", &i.idempotency_key)
            .field("retryable", &i.retryable)
            .field("outcome_unknown", &i.outcome_unknown)
            .field("replayed", &i.replayed)
            .field("attempts", &i.attempts)
            .finish_non_exhaustive()
    }
}

/// `Result` with refundkit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
