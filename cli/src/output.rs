//! Everything the CLI writes: human text or, with `--json`, one JSON
//! document on stdout. Diagnostics and progress go to stderr.
//!
//! Every line passes through here, and here control characters are
//! escaped ([`printable`] for text, `\u00XX` escapes for JSON), so no
//! server-provided text (refund ids, messages, statuses, error text, webhook
//! fields) can reach the terminal raw, whichever command printed it.
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
    /// Writes one line of text to stdout, control characters escaped, and
    /// flushes it, so a process reading the pipe sees it at once.
    pub fn line(&self, text: impl Display) {
        write_line(&mut std::io::stdout().lock(), &printable(&text.to_string()));
    }

    /// Writes a JSON document on one line of stdout. serde_json escapes
    /// C0 controls; DEL and C1 controls are escaped here, so the line holds
    /// no control character and is still the same JSON.
    pub fn document(&self, value: &Value) {
        write_line(&mut std::io::stdout().lock(), &json_line(value));
    }

    /// Writes a diagnostic line to stderr, control characters escaped.
    pub fn note(&self, text: impl Display) {
        write_line(&mut std::io::stderr().lock(), &printable(&text.to_string()));
    }

    /// Reports the error that ends a command.
    pub fn error(&self, error: &CliError) {
        if self.json {
            self.document(&json!({
                "ok": false,
                "error": { "kind": error.kind, "message": error.message },
            }));
        } else {
            self.note(format_args!("error: {}", error.message));
        }
    }
}

fn write_line(out: &mut impl Write, text: &str) {
    // A closed pipe is the reader's choice; there is no one left to tell.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// `value` as compact JSON with every control character escaped as
/// `\u00XX` (serde_json leaves DEL and C1 controls such as CSI raw).
fn json_line(value: &Value) -> String {
    let text = value.to_string();
    if !text.chars().any(char::is_control) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            // Outside strings compact JSON has no control characters, so
            // each one is inside a string, where this escape is valid.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
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
    use super::{json_line, printable};

    #[test]
    fn json_lines_escape_del_and_c1_controls_and_stay_the_same_json() {
        let value = serde_json::json!({ "m": "a\u{1b}[2K\u{7f}\u{9b}31m\rb" });
        let line = json_line(&value);
        assert!(!line.chars().any(char::is_control), "{line}");
        let back: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(back, value);
    }

    #[test]
    fn printable_escapes_every_control_character() {
        assert_eq!(printable("rfd_ok"), "rfd_ok");
        assert_eq!(
            printable("a\u{1b}]0;x\u{7}\rb\u{9b}"),
            "a\\u{1b}]0;x\\u{7}\\u{d}b\\u{9b}"
        );
    }
}
