//! refundkit's log events for Kotlin and Swift: a [`LogSink`] the app (or
//! the Kotlin default, `RefundKitLogging.useJavaLogging()`) installs with
//! [`set_log_sink`] (ADR 0019).
//!
//! The level is a Rust atomic set with the sink ([`set_log_level`] changes
//! it), so an event the app does not want is dropped before any foreign
//! call. A record crosses the FFI on the thread that emitted it (a runtime
//! thread, or the caller of a blocking refund).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use refundkit::log_forward::{self, Level, Record, Sink};

/// The severity of a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// A failure of refundkit itself.
    Error,
    /// A refund whose outcome is unknown: retry later with the same key.
    Warn,
    /// Informational.
    Info,
    /// One record per attempt.
    Debug,
}

impl From<LogLevel> for Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => Level::Error,
            LogLevel::Warn => Level::Warn,
            LogLevel::Info => Level::Info,
            LogLevel::Debug => Level::Debug,
        }
    }
}

impl From<Level> for LogLevel {
    fn from(level: Level) -> Self {
        match level {
            Level::Error => LogLevel::Error,
            Level::Warn => LogLevel::Warn,
            Level::Info => LogLevel::Info,
            Level::Debug => LogLevel::Debug,
        }
    }
}

/// Receives refundkit's log records; implemented by the app (Kotlin
/// `fun log(level: LogLevel, message: String, fields: Map<String, String>)`).
///
/// `message` is one line, `event name=value …`; `fields` holds the same
/// values by name (`checkout_id`, `idempotency_key`, `attempt`, `outcome`,
/// `status`, `request_id`, `elapsed_ms`, `decision`, `delay_ms`,
/// `attempts`). Called on a refundkit thread: return quickly, never throw.
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    /// Takes one record.
    fn log(&self, level: LogLevel, message: String, fields: HashMap<String, String>);
}

/// Sends refundkit's records up to `max_level` (`null`: none) to `sink`
/// (`null`: nowhere), replacing any sink installed before.
#[uniffi::export]
pub fn set_log_sink(sink: Option<Arc<dyn LogSink>>, max_level: Option<LogLevel>) {
    match sink {
        Some(sink) => {
            log_forward::install(Arc::new(Foreign(sink)));
            set_log_level(max_level);
        }
        None => log_forward::remove_sink(),
    }
}

/// Changes the most verbose level sent to the sink (`null`: none).
#[uniffi::export]
pub fn set_log_level(max_level: Option<LogLevel>) {
    log_forward::set_max_level(max_level.map(Level::from));
}

/// The most verbose level sent to the sink now, `null` when off.
#[uniffi::export]
pub fn log_level() -> Option<LogLevel> {
    log_forward::max_level().map(LogLevel::from)
}

/// A foreign [`LogSink`] as core's sink. A sink that throws loses its
/// record, never the refund.
struct Foreign(Arc<dyn LogSink>);

impl Sink for Foreign {
    fn forward(&self, record: Record) {
        let message = record.line();
        let fields = record
            .fields
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        let level = LogLevel::from(record.level);
        let _ = catch_unwind(AssertUnwindSafe(|| self.0.log(level, message, fields)));
    }
}
