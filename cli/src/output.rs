//! Everything the CLI writes: human text or, with `--json`, one JSON
//! document on stdout. Diagnostics and progress go to stderr.
//!
//! The secret key is never passed here unmasked.

use std::fmt::Display;
use std::io::Write;

use serde_json::{json, Value};

use crate::exit::CliError;

/// Where and how results are written.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Write one JSON document to stdout instead of text.
    pub json: bool,
}

impl Output {
    /// Writes one line of text to stdout and flushes it, so a process
    /// reading the pipe sees it at once.
    pub fn line(&self, text: impl Display) {
        let mut stdout = std::io::stdout().lock();
        // A closed pipe is the reader's choice; there is no one left to tell.
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }

    /// Writes a JSON document on one line of stdout.
    pub fn document(&self, value: &Value) {
        self.line(value);
    }

    /// Writes a diagnostic line to stderr.
    pub fn note(&self, text: impl Display) {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{text}");
    }

    /// Reports the error that ends a command.
    pub fn error(&self, error: &CliError) {
        if self.json {
            self.document(&json!({
                "ok": false,
                "error": { "kind": error.kind, "message": error.message },
            }));
        } else {
            self.note(format_args!("error: {}", printable(&error.message)));
        }
    }
}

/// A refund as JSON (camelCase, like the API).
pub fn refund_json(refund: &refundkit::Refund) -> Value {
    json!({
        "checkoutId": refund.checkout_id,
        "refundId": refund.refund_id,
        "status": refund.status.as_str(),
        "message": refund.message,
        "idempotencyKey": refund.idempotency_key,
        "replayed": refund.replayed,
        "attempts": refund.attempts,
        "requestId": refund.request_id,
    })
}

/// A refundkit error as JSON, with everything a script needs to decide
/// whether and how to retry.
pub fn error_json(error: &refundkit::Error) -> Value {
    json!({
        "kind": error.kind().as_str(),
        "message": error.message(),
        "field": error.field(),
        "status": error.status(),
        "errorCode": error.error_code(),
        "requestId": error.request_id(),
        "idempotencyKey": error.idempotency_key(),
        "retryable": error.is_retryable(),
        "outcomeUnknown": error.is_outcome_unknown(),
        "attempts": error.attempts(),
    })
}

/// `text` made safe for a terminal: control characters (ESC, CR, BEL, C1
/// controls, …) become `\u{..}` escapes, so server-provided text can never
/// move the cursor, rewrite a line or change the window title.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `label:` padded so that values line up in a column.
pub fn field(label: &str, value: impl Display) -> String {
    format!("  {:<16} {value}", format!("{label}:"))
}

/// Formats cents as `R12.34` (every emulator and production amount is ZAR).
pub fn zar_amount(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}R{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn printable_escapes_every_control_character() {
        assert_eq!(printable("rfd_ok"), "rfd_ok");
        assert_eq!(
            printable("a\u{1b}]0;x\u{7}\rb\u{9b}"),
            "a\\u{1b}]0;x\\u{7}\\u{d}b\\u{9b}"
        );
    }
}
