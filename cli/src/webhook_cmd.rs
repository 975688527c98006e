//! `refundkit webhook verify`: check a stored delivery with the core
//! verifier and print its event.

use std::io::Read;
use std::time::Duration;

use refundkit::webhooks::MAX_BODY_LEN;
use refundkit::{WebhookEvent, WebhookVerifier};
use serde_json::json;

use crate::exit::{CliError, Exit};
use crate::output::{error_json, field, zar_amount, Output};
use crate::WebhookVerifyArgs;

/// Verifies the delivery; exit 1 if it does not verify, 2 on bad input.
pub fn verify(args: &WebhookVerifyArgs, out: Output) -> Result<Exit, CliError> {
    let body = read_body(args)?;
    let verifier =
        WebhookVerifier::new(&args.secret)?.tolerance(Duration::from_secs(args.tolerance));
    let headers = args.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    match verifier.verify(headers, &body) {
        Ok(event) => {
            print_event(&event, out);
            Ok(Exit::Success)
        }
        Err(error) => {
            if out.json {
                out.document(
                    &json!({ "ok": false, "verified": false, "error": error_json(&error) }),
                );
            } else {
                out.note(format_args!("error: {error}"));
            }
            Ok(Exit::for_error(&error))
        }
    }
}

/// Reads the body, refusing one larger than a delivery can be
/// ([`MAX_BODY_LEN`], the verifier's own cap) after reading at most one
/// byte past it: `/dev/zero` or a huge file fails at once.
fn read_body(args: &WebhookVerifyArgs) -> Result<Vec<u8>, CliError> {
    let path = &args.body;
    let cannot_read = |e: std::io::Error| {
        CliError::usage(format!("cannot read the body from {}: {e}", path.display()))
    };
    let source: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).map_err(cannot_read)?)
    };
    let mut body = Vec::new();
    source
        .take(MAX_BODY_LEN as u64 + 1)
        .read_to_end(&mut body)
        .map_err(cannot_read)?;
    if body.len() > MAX_BODY_LEN {
        return Err(CliError::usage(format!(
            "the body in {} is larger than {MAX_BODY_LEN} bytes, more than any webhook delivery; \
             nothing was verified",
            path.display()
        )));
    }
    Ok(body)
}

fn print_event(event: &WebhookEvent, out: Output) {
    let refund = event.refund();
    if out.json {
        out.document(&json!({
            "ok": true,
            "verified": true,
            "event": {
                "id": event.id,
                "type": event.event_type,
                "webhookId": event.webhook_id,
                "createdDate": event.created_date,
                "refundId": refund.and_then(|r| r.refund_id.as_deref()),
                "paymentId": event.payment_id(),
                "checkoutId": event.checkout_id(),
                "amount": event.amount(),
                "status": event.status(),
                "failureReason": refund.and_then(|r| r.failure_reason.as_deref()),
                "payload": event.payload,
            },
        }));
        return;
    }
    out.line("Signature verified");
    out.line(field("event id", &event.id));
    out.line(field("type", &event.event_type));
    out.line(field("webhook id", &event.webhook_id));
    if let Some(created) = &event.created_date {
        out.line(field("created", created));
    }
    let optional = |label: &str, value: Option<&str>| {
        if let Some(value) = value {
            out.line(field(label, value));
        }
    };
    // Refund events lead with the refund, then checkout and payment;
    // payment events with the payment, then the checkout.
    if let Some(r) = refund {
        optional("refund id", r.refund_id.as_deref());
        optional("checkout id", event.checkout_id());
        optional("payment id", event.payment_id());
    } else {
        optional("payment id", event.payment_id());
        optional("checkout id", event.checkout_id());
    }
    if let Some(amount) = event.amount() {
        out.line(field(
            "amount",
            format!("{} ({amount} cents)", zar_amount(amount)),
        ));
    }
    optional("status", event.status());
    optional(
        "failure reason",
        refund.and_then(|r| r.failure_reason.as_deref()),
    );
}
