//! Forwarding refundkit's log events ([`crate::logs`]) to a host
//! language's logging, for the bindings (ADR 0019).
//!
//! [`install`] sets a process-wide `tracing` subscriber that sees only
//! refundkit's events and hands each one, as a [`Record`], to the current
//! [`Sink`]. Whether an event is wanted is one atomic load of the level
//! set with [`set_max_level`], so a level the host has turned off costs
//! almost nothing and no foreign call. Every other crate's callsites are
//! disabled for good on first use.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record as SpanValues};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// The severity of a [`Record`], most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// A failure of refundkit itself.
    Error = 1,
    /// A refund whose outcome is unknown.
    Warn = 2,
    /// Informational.
    Info = 3,
    /// One line per attempt.
    Debug = 4,
}

impl Level {
    fn of(level: &tracing::Level) -> Self {
        match *level {
            tracing::Level::ERROR => Self::Error,
            tracing::Level::WARN => Self::Warn,
            tracing::Level::INFO => Self::Info,
            _ => Self::Debug,
        }
    }
    /// The lower-case name (`debug`, `info`, `warn`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
        }
    }
}

/// One log event: its level, message and fields (names as in [`crate::logs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// How severe.
    pub level: Level,
    /// The event's message, e.g. `refund attempt`.
    pub message: String,
    /// The fields the event carries, in order; absent values are left out.
    pub fields: Vec<(&'static str, String)>,
}

impl Record {
    /// `message name=value …`, for loggers that take one line.
    pub fn line(&self) -> String {
        let mut line = self.message.clone();
        for (name, value) in &self.fields {
            line.push(' ');
            line.push_str(name);
            line.push('=');
            line.push_str(value);
        }
        line
    }
}

/// Where records go: a binding's bridge to its language's logging. Called
/// on whichever thread emitted the event.
pub trait Sink: Send + Sync {
    /// Takes one record.
    fn forward(&self, record: Record);
}

/// 0 = off, else the most verbose [`Level`] wanted.
static MAX_LEVEL: AtomicU8 = AtomicU8::new(0);
static SINK: RwLock<Option<Arc<dyn Sink>>> = RwLock::new(None);
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Makes `sink` the receiver of refundkit's events, installing the
/// process-wide subscriber on first use. Returns false when another
/// global `tracing` subscriber was installed first (a Rust program
/// embedding a binding): refundkit's events then go to that one.
pub fn install(sink: Arc<dyn Sink>) -> bool {
    *SINK.write().unwrap_or_else(PoisonError::into_inner) = Some(sink);
    *INSTALLED.get_or_init(|| tracing::subscriber::set_global_default(Forwarder).is_ok())
}

/// Forwards nothing more and drops the current sink.
pub fn remove_sink() {
    set_max_level(None);
    *SINK.write().unwrap_or_else(PoisonError::into_inner) = None;
}

/// Sets the most verbose level forwarded; `None` forwards nothing.
pub fn set_max_level(level: Option<Level>) {
    MAX_LEVEL.store(level.map_or(0, |l| l as u8), Ordering::Relaxed);
}

/// The most verbose level forwarded, `None` when off.
pub fn max_level() -> Option<Level> {
    match MAX_LEVEL.load(Ordering::Relaxed) {
        1 => Some(Level::Error),
        2 => Some(Level::Warn),
        3 => Some(Level::Info),
        4 => Some(Level::Debug),
        _ => None,
    }
}

fn is_refundkit(metadata: &Metadata<'_>) -> bool {
    let target = metadata.target();
    target == "refundkit" || target.starts_with("refundkit::")
}

/// The subscriber: refundkit's events only, gated by [`MAX_LEVEL`]; spans
/// are accepted and ignored (every event carries its own fields).
struct Forwarder;

impl Subscriber for Forwarder {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if is_refundkit(metadata) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_event()
            && is_refundkit(metadata)
            && Level::of(metadata.level()) as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _span: &Id, _values: &SpanValues<'_>) {}
    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}
    fn enter(&self, _span: &Id) {}
    fn exit(&self, _span: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let sink = SINK.read().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(sink) = sink else { return };
        let mut record = Record {
            level: Level::of(event.metadata().level()),
            message: String::new(),
            fields: Vec::with_capacity(event.metadata().fields().len()),
        };
        event.record(&mut record);
        sink.forward(record);
    }
}

impl Visit for Record {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, format!("{value:?}"));
    }
}

impl Record {
    fn push(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = value;
        } else {
            self.fields.push((field.name(), value));
        }
    }
}
