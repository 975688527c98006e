//! `refundkit demo`: the whole refund flow on an embedded emulator, one
//! explained step at a time.

use std::time::Duration;

use anyhow::{anyhow, Context as _};
use rand::distributions::Alphanumeric;
use rand::Rng as _;
use refundkit::redact::mask_secret;
use refundkit::{Client, Refund, RefundRequest, WebhookEvent};
use refundkit_emulator::{ControlClient, Emulator, EmulatorConfig};
use serde_json::{json, Map, Value};

use crate::exit::{CliError, Exit};
use crate::output::{field, refund_json, zar_amount, Output};
use crate::webhook_receiver::WebhookReceiver;

/// Cents charged and refunded in the demo.
const AMOUNT: i64 = 4_999;
/// How long to wait for the `refund.succeeded` webhook.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Webhook retry delays on the embedded emulator: 5 min becomes 0.3 s.
const WEBHOOK_TIME_SCALE: f64 = 0.001;

/// Runs the demo; exit 0 only if every step did what it should.
pub async fn run(out: Output) -> Result<Exit, CliError> {
    let config = EmulatorConfig {
        webhook_time_scale: WEBHOOK_TIME_SCALE,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config)
        .await
        .map_err(|e| CliError::failure("io", format!("cannot start the embedded emulator: {e}")))?;
    let mut steps = Steps {
        out,
        number: 0,
        report: Map::new(),
    };
    let outcome = run_steps(&emulator, &mut steps).await;
    emulator.shutdown().await;
    outcome?;
    if out.json {
        let mut report = steps.report;
        report.insert("ok".into(), Value::Bool(true));
        out.document(&Value::Object(report));
    } else {
        out.line("");
        out.line("Done: one refund made, its replay recognised, its webhook verified.");
    }
    Ok(Exit::Success)
}

/// Prints numbered steps as they happen, or collects them for `--json`.
struct Steps {
    out: Output,
    number: u32,
    report: Map<String, Value>,
}

impl Steps {
    fn step(&mut self, title: &str, fields: &[(&str, String)], json_key: &str, json: Value) {
        self.number += 1;
        self.report.insert(json_key.to_owned(), json);
        if self.out.json {
            return;
        }
        self.out.line(format_args!("{}. {title}", self.number));
        for (label, value) in fields {
            self.out.line(format_args!("  {}", field(label, value)));
        }
    }
}

async fn run_steps(emulator: &Emulator, steps: &mut Steps) -> Result<(), CliError> {
    let base_url = emulator.base_url();
    if !steps.out.json {
        steps.out.line(format_args!(
            "refundkit demo: the refund flow against an embedded emulator at {base_url}"
        ));
        steps.out.line("");
    }
    steps.report.insert("emulator".into(), json!(base_url));

    let secret_key = format!("sk_live_{}", random_alphanumeric(24));
    let control = ControlClient::new(&base_url, &secret_key);
    let checkout = control
        .create_checkout(AMOUNT, None)
        .await
        .context("step 1 (create a checkout) failed")?;
    let checkout_id = string_field(&checkout, "id")?;
    steps.step(
        "Created a live-mode checkout (only live checkouts can be refunded)",
        &[
            ("checkout", checkout_id.clone()),
            ("amount", zar_amount(AMOUNT)),
            ("secret key", mask_secret(&secret_key)),
        ],
        "checkout",
        json!({ "id": checkout_id, "amount": AMOUNT, "secretKey": mask_secret(&secret_key) }),
    );

    let paid = control
        .pay(&checkout_id)
        .await
        .context("step 2 (pay the checkout) failed")?;
    let payment_id = paid.get("paymentId").and_then(Value::as_str).unwrap_or("?");
    let status = paid.get("status").and_then(Value::as_str).unwrap_or("?");
    steps.step(
        "Paid it, as the customer would",
        &[
            ("payment", payment_id.to_owned()),
            ("status", status.to_owned()),
        ],
        "payment",
        json!({ "id": payment_id, "checkoutStatus": status }),
    );

    let mut receiver = WebhookReceiver::start()
        .await
        .context("step 3 (start the webhook receiver) failed")?;
    let outcome = receive_refund(
        steps,
        &control,
        &secret_key,
        &base_url,
        &checkout_id,
        &mut receiver,
    )
    .await;
    receiver.shutdown().await;
    outcome
}

/// Steps 3 to 7: register the receiver, refund, replay, await the webhook,
/// check the ledger.
async fn receive_refund(
    steps: &mut Steps,
    control: &ControlClient,
    secret_key: &str,
    base_url: &str,
    checkout_id: &str,
    receiver: &mut WebhookReceiver,
) -> Result<(), CliError> {
    let subscription = control
        .register_webhook("refundkit demo", receiver.url())
        .await
        .context("step 3 (register the webhook receiver) failed")?;
    let secret = string_field(&subscription, "secret")?;
    receiver.set_secret(&secret)?;
    steps.step(
        "Started a webhook receiver and registered it",
        &[
            ("url", receiver.url().to_owned()),
            (
                "subscription",
                string_field(&subscription, "id").unwrap_or_default(),
            ),
            ("signing secret", mask_secret(&secret)),
        ],
        "webhook",
        json!({ "url": receiver.url(), "signingSecret": mask_secret(&secret) }),
    );

    let client = Client::builder(secret_key)
        .base_url(base_url)
        .user_agent_binding("cli", "tokio")
        .build()?;
    let request = RefundRequest::new(checkout_id).metadata("reason", "refundkit demo");
    let refund = client
        .refund(request.clone())
        .await
        .map_err(step_failed("4 (refund)"))?;
    steps.step(
        "Refunded the checkout with refundkit::Client",
        &refund_fields(&refund),
        "refund",
        refund_json(&refund),
    );

    let replay = client
        .refund(request.idempotency_key(refund.idempotency_key.clone()))
        .await
        .map_err(step_failed("5 (replay the refund)"))?;
    if !replay.replayed || replay.refund_id != refund.refund_id {
        return Err(CliError::failure(
            "demo",
            format!(
                "step 5 (replay the refund) failed: expected a replay of {}, got {} (replayed: {})",
                refund.refund_id, replay.refund_id, replay.replayed
            ),
        ));
    }
    steps.step(
        "Sent the same request again with the same idempotency key: the answer is replayed, \
         nothing is refunded twice",
        &refund_fields(&replay),
        "replay",
        refund_json(&replay),
    );

    let event = await_refund_webhook(receiver, &refund.refund_id).await?;
    let refund_event = event.refund().cloned().unwrap_or_default();
    let amount = refund_event
        .amount
        .map_or_else(|| "?".to_owned(), zar_amount);
    steps.step(
        "Received the webhook and verified its signature with refundkit::WebhookVerifier",
        &[
            ("event", event.id.clone()),
            ("type", event.event_type.clone()),
            ("refund", refund_event.refund_id.clone().unwrap_or_default()),
            (
                "checkout",
                refund_event.checkout_id.clone().unwrap_or_default(),
            ),
            ("amount", amount),
            ("status", refund_event.status.clone().unwrap_or_default()),
        ],
        "event",
        json!({
            "id": event.id,
            "type": event.event_type,
            "webhookId": event.webhook_id,
            "refundId": refund_event.refund_id,
            "checkoutId": refund_event.checkout_id,
            "amount": refund_event.amount,
            "status": refund_event.status,
            "verified": true,
        }),
    );

    let ledger = control
        .ledger(Some(checkout_id))
        .await
        .context("step 7 (read the emulator's ledger) failed")?;
    if ledger.len() != 1 {
        return Err(CliError::failure(
            "demo",
            format!(
                "step 7 failed: the ledger holds {} refunds of {checkout_id}, expected 1",
                ledger.len()
            ),
        ));
    }
    steps.step(
        "Checked the emulator's ledger: the checkout was refunded exactly once",
        &[("refunds", ledger.len().to_string())],
        "ledger",
        json!({ "refunds": ledger.len() }),
    );
    Ok(())
}

/// Waits for a verified `refund.succeeded` for `refund_id`; other verified
/// events are ignored, a delivery that fails verification ends the demo.
async fn await_refund_webhook(
    receiver: &mut WebhookReceiver,
    refund_id: &str,
) -> Result<WebhookEvent, CliError> {
    let deadline = tokio::time::Instant::now() + WEBHOOK_TIMEOUT;
    loop {
        let delivery = tokio::time::timeout_at(deadline, receiver.next()).await.map_err(|_| {
            CliError::failure(
                "timeout",
                format!(
                    "step 6 (receive the webhook) failed: no refund.succeeded webhook for {refund_id} within {} s",
                    WEBHOOK_TIMEOUT.as_secs()
                ),
            )
        })?;
        let event = match delivery {
            None => return Err(anyhow!("step 6 failed: the webhook receiver stopped").into()),
            Some(Err(e)) => {
                return Err(CliError::failure(
                    e.kind().as_str(),
                    format!("step 6 (receive the webhook) failed: a delivery did not verify: {e}"),
                ))
            }
            Some(Ok(event)) => event,
        };
        let for_this_refund = event
            .refund()
            .and_then(|r| r.refund_id.as_deref())
            .is_some_and(|id| id == refund_id);
        if event.event_type == "refund.succeeded" && for_this_refund {
            return Ok(event);
        }
    }
}

fn refund_fields(refund: &Refund) -> Vec<(&'static str, String)> {
    vec![
        ("refund", refund.refund_id.clone()),
        ("status", refund.status.to_string()),
        ("idempotency key", refund.idempotency_key.clone()),
        ("replayed", refund.replayed.to_string()),
        ("attempts", refund.attempts.to_string()),
    ]
}

fn step_failed(step: &'static str) -> impl Fn(refundkit::Error) -> CliError {
    move |e| {
        let mut error = CliError::from(e);
        error.message = format!("step {step} failed: {}", error.message);
        error
    }
}

fn string_field(value: &Value, name: &str) -> Result<String, CliError> {
    match value.get(name).and_then(Value::as_str) {
        Some(s) => Ok(s.to_owned()),
        None => Err(anyhow!("the emulator's answer has no {name:?}: {value}").into()),
    }
}

fn random_alphanumeric(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
