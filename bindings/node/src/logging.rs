//! refundkit's log events in Node.js: `setLogger(fn, {level})` in
//! `node/index.js` installs a JavaScript function here (ADR 0019).
//!
//! The level is a Rust atomic, so an unwanted event costs no JavaScript
//! call. A wanted one is queued, without blocking, to a threadsafe function
//! and delivered on the event loop; the function is weak, so a logger never
//! keeps the process alive.

use std::sync::Arc;

use napi::bindgen_prelude::Function;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;
use refundkit::log_forward::{self, Level, Record, Sink};

/// Fields whose values are numbers in JavaScript.
const NUMERIC_FIELDS: [&str; 5] = ["attempt", "attempts", "status", "elapsed_ms", "delay_ms"];

/// One log record, as the JavaScript logger receives it.
#[napi(object)]
pub struct LogRecord {
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// One line: `event name=value …`.
    pub message: String,
    /// The fields by name (numbers for counts, statuses and durations).
    pub fields: serde_json::Value,
}

type LogFunction = ThreadsafeFunction<LogRecord, (), LogRecord, Status, false, true>;

/// Installs `logger` for records up to `level` (`debug`, `info`, `warn`,
/// `error`); `null` removes the logger.
#[napi]
pub fn set_native_logger(
    logger: Option<Function<'_, LogRecord, ()>>,
    level: Option<String>,
) -> napi::Result<()> {
    let Some(logger) = logger else {
        log_forward::remove_sink();
        return Ok(());
    };
    let level = match level.as_deref().unwrap_or("debug") {
        "debug" => Level::Debug,
        "info" => Level::Info,
        "warn" => Level::Warn,
        "error" => Level::Error,
        other => {
            return Err(napi::Error::new(
                Status::InvalidArg,
                format!("level must be debug, info, warn or error, not {other:?}"),
            ))
        }
    };
    let function = logger
        .build_threadsafe_function::<LogRecord>()
        .callee_handled::<false>()
        .weak::<true>()
        .build()?;
    log_forward::install(Arc::new(JsLogger(function)));
    log_forward::set_max_level(Some(level));
    Ok(())
}

/// The JavaScript logger as core's sink.
struct JsLogger(LogFunction);

impl Sink for JsLogger {
    fn forward(&self, record: Record) {
        let message = record.line();
        let fields = record
            .fields
            .into_iter()
            .map(|(name, value)| {
                let value = match value.parse::<u64>() {
                    Ok(number) if NUMERIC_FIELDS.contains(&name) => number.into(),
                    _ => serde_json::Value::String(value),
                };
                (name.to_owned(), value)
            })
            .collect();
        let record = LogRecord {
            level: record.level.as_str().to_owned(),
            message,
            fields: serde_json::Value::Object(fields),
        };
        // Non-blocking on an unbounded queue; a closing environment drops it.
        let _ = self.0.call(record, ThreadsafeFunctionCallMode::NonBlocking);
    }
}
