//! `refundkit refund CHECKOUT_ID`: one refund, its result or its typed error.

use refundkit::{Client, Refund, RefundRequest};
use serde_json::json;

use crate::exit::{CliError, Exit};
use crate::output::{error_json, field, refund_json, Output};
use crate::RefundArgs;

/// The `error.kind` of `--json` output for a 2xx answer whose status is
/// not a success.
pub const NOT_SUCCESSFUL: &str = "refund_not_successful";

/// The environment variable holding the secret key.
pub const SECRET_KEY_ENV: &str = "REFUNDKIT_SECRET_KEY";

/// Builds the client from `REFUNDKIT_SECRET_KEY` and the flags. A missing
/// or malformed key or base URL is a usage error (exit 2); the key is never
/// echoed.
pub fn client_from(args: &RefundArgs) -> Result<Client, CliError> {
    let secret_key = std::env::var(SECRET_KEY_ENV).map_err(|_| {
        CliError::usage(format!(
            "{SECRET_KEY_ENV} is not set: export your secret key (sk_live_… or sk_test_…) in it"
        ))
    })?;
    let mut builder = Client::builder(secret_key)
        .max_retries(args.max_retries)
        .user_agent_binding("cli", "tokio");
    if let Some(url) = &args.base_url {
        builder = builder.base_url(url);
    }
    Ok(builder.build()?)
}

/// Refunds one checkout and prints the refund or the error.
pub async fn run(args: &RefundArgs, out: Output) -> Result<Exit, CliError> {
    let request = request_from(args);
    // Bad input is reported before the key is even looked at.
    request.validate()?;
    let client = client_from(args)?;
    match client.refund(request.clone()).await {
        Ok(refund) if refund.status.is_success() => {
            report_refund(&refund, out);
            Ok(Exit::Success)
        }
        Ok(refund) => {
            report_not_successful(&refund, out);
            Ok(Exit::Failure)
        }
        Err(error) => {
            report_error(&error, &request, out);
            Ok(Exit::for_error(&error))
        }
    }
}

/// Prints a refund the service reported as made (`successful` or `succeeded`).
fn report_refund(refund: &Refund, out: Output) {
    if out.json {
        out.document(&json!({ "ok": true, "refund": refund_json(refund) }));
        return;
    }
    out.line(if refund.replayed {
        "Refund accepted (replayed: the service had already processed this idempotency \
         key, so nothing was refunded twice)"
    } else {
        "Refund accepted"
    });
    print_refund_fields(refund, out);
    out.line("The refund.succeeded (or refund.failed) webhook is the final word.");
}

/// Prints a 2xx answer whose status is not a success (`failed`, `pending`,
/// anything else): the status exactly as given, and that nothing may be
/// counted as refunded. The command then exits 1.
fn report_not_successful(refund: &Refund, out: Output) {
    let message = format!(
        "the service answered the refund with status {:?}, not \"successful\"",
        refund.status.as_str()
    );
    if out.json {
        out.document(&json!({
            "ok": false,
            "refund": refund_json(refund),
            "error": { "kind": NOT_SUCCESSFUL, "message": message },
        }));
        return;
    }
    out.line(format_args!("Refund not successful: {message}"));
    print_refund_fields(refund, out);
    out.line(
        "Do not count this checkout as refunded: the refund.succeeded or refund.failed webhook \
         (or the dashboard) says what happened.",
    );
}

fn print_refund_fields(refund: &Refund, out: Output) {
    out.line(field("checkout", &refund.checkout_id));
    out.line(field("refund id", &refund.refund_id));
    out.line(field("status", &refund.status));
    if let Some(message) = &refund.message {
        out.line(field("message", message));
    }
    if let Some(id) = &refund.request_id {
        out.line(field("request id", id));
    }
    out.line(field("idempotency key", &refund.idempotency_key));
    out.line(field("replayed", refund.replayed));
    out.line(field("attempts", refund.attempts));
}

fn request_from(args: &RefundArgs) -> RefundRequest {
    let mut request = RefundRequest::new(args.checkout_id.clone().unwrap_or_default());
    request.amount = args.amount;
    for (key, value) in &args.metadata {
        request = request.metadata(key, value);
    }
    request.idempotency_key = args.idempotency_key.clone();
    request
}

/// Prints a typed error: JSON on stdout, or text on stderr with the retry
/// advice when the outcome is unknown.
fn report_error(error: &refundkit::Error, request: &RefundRequest, out: Output) {
    if out.json {
        out.document(&json!({ "ok": false, "error": error_json(error) }));
        return;
    }
    out.note(format_args!("error: {error}"));
    out.note(field("kind", error.kind()));
    out.note(field("message", error.message()));
    if let Some(status) = error.status() {
        out.note(field("status", status));
    }
    if let Some(code) = error.error_code() {
        out.note(field("error code", code));
    }
    if let Some(id) = error.request_id() {
        out.note(field("request id", id));
    }
    if let Some(key) = error.idempotency_key() {
        out.note(field("idempotency key", key));
    }
    out.note(field("attempts", error.attempts()));
    let Some(key) = error.idempotency_key() else {
        return;
    };
    if error.is_outcome_unknown() {
        out.note(
            "The refund may have been made. Retry later with the same idempotency key to learn",
        );
        out.note("the outcome; the service will not refund twice:");
        out.note(format_args!("  {}", retry_command(request, key)));
    } else if error.is_retryable() {
        out.note("Nothing was refunded. This may succeed later; retry with the same key:");
        out.note(format_args!("  {}", retry_command(request, key)));
    }
}

/// The command that repeats `request` exactly, with `key`.
fn retry_command(request: &RefundRequest, key: &str) -> String {
    let mut words = vec![
        "refundkit".to_owned(),
        "refund".to_owned(),
        shell_quote(&request.checkout_id),
    ];
    if let Some(amount) = request.amount {
        words.push(format!("--amount {amount}"));
    }
    for (k, v) in request.metadata.iter().flatten() {
        words.push(format!("--metadata {}", shell_quote(&format!("{k}={v}"))));
    }
    words.push(format!("--idempotency-key {}", shell_quote(key)));
    words.join(" ")
}

/// Quotes `word` for a POSIX shell when it needs it.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.,:/@%+=".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_command_repeats_the_request_with_quoting() {
        let request = RefundRequest::new("ch_1")
            .amount(150)
            .metadata("note", "it's");
        assert_eq!(
            retry_command(&request, "k-1"),
            r"refundkit refund ch_1 --amount 150 --metadata 'note=it'\''s' --idempotency-key k-1"
        );
    }
}
