//! The refund's log events (`refundkit::logs`): one per attempt with its
//! fields, a warning when the outcome is unknown, never a credential, and
//! forwarded through `refundkit::log_forward` only at the level asked for.

mod support;

use std::sync::{Arc, Mutex};

use refundkit::log_forward::{self, Level, Record, Sink};
use refundkit::{Client, RefundRequest};
use support::{accepted_body, Action, ScriptedServer};

const SECRET: &str = "sk_live_LOGSECRET0123456789abcdef";
const NEEDLE: &str = "LOGSECRET";

/// Collects forwarded records.
#[derive(Default)]
struct Collected(Mutex<Vec<Record>>);

impl Sink for Collected {
    fn forward(&self, record: Record) {
        self.0.lock().expect("lock").push(record);
    }
}

impl Collected {
    fn take(&self) -> Vec<Record> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

fn field<'a>(record: &'a Record, name: &str) -> Option<&'a str> {
    record
        .fields
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

fn client(server: &ScriptedServer, max_retries: u32) -> Client {
    Client::builder(SECRET)
        .base_url(server.base_url())
        .max_retries(max_retries)
        .build()
        .expect("client")
}

fn assert_no_secret(records: &[Record]) {
    for record in records {
        let line = record.line();
        assert!(!line.contains(NEEDLE), "secret in a log line: {line}");
    }
}

// One test: the forwarding subscriber is process-wide, so the cases run in
// order instead of in parallel.
#[tokio::test]
async fn attempts_warnings_and_levels_are_forwarded_without_the_key() {
    let collected = Arc::new(Collected::default());
    assert!(log_forward::install(collected.clone()));

    // A 500 whose request id echoes the key, then a success: two attempts.
    log_forward::set_max_level(Some(Level::Debug));
    let server = ScriptedServer::start(vec![
        Action::Respond(
            500,
            vec![("x-request-id", format!("req_{SECRET}"))],
            "{}".into(),
        ),
        Action::Respond(
            202,
            vec![("x-request-id", "req_2".into())],
            accepted_body("ch_logs", "rfd_1"),
        ),
    ])
    .await;
    let refund = client(&server, 2)
        .refund(RefundRequest::new("ch_logs").idempotency_key("key-logs-1"))
        .await
        .expect("refund");
    assert_eq!(refund.attempts, 2);
    let records = collected.take();
    assert_no_secret(&records);
    assert_eq!(records.len(), 2, "{records:?}");
    let (first, second) = (&records[0], &records[1]);
    for (record, attempt) in [(first, "1"), (second, "2")] {
        assert_eq!(record.level, Level::Debug);
        assert_eq!(record.message, "refund attempt");
        assert_eq!(field(record, "checkout_id"), Some("ch_logs"));
        assert_eq!(field(record, "idempotency_key"), Some("key-logs-1"));
        assert_eq!(field(record, "attempt"), Some(attempt));
        assert!(field(record, "elapsed_ms").is_some());
    }
    assert_eq!(field(first, "status"), Some("500"));
    assert_eq!(field(first, "outcome"), Some("server"));
    assert_eq!(field(first, "decision"), Some("retry"));
    assert!(field(first, "delay_ms").is_some());
    assert!(field(first, "request_id").is_some_and(|id| id.starts_with("req_sk_live_…")));
    assert_eq!(field(second, "status"), Some("202"));
    assert_eq!(field(second, "outcome"), Some("refunded"));
    assert_eq!(field(second, "decision"), Some("done"));
    assert_eq!(field(second, "request_id"), Some("req_2"));
    assert_eq!(field(second, "delay_ms"), None);

    // The connection cut after the request was read: outcome unknown.
    let server = ScriptedServer::start(vec![Action::CutAfterRead]).await;
    let error = client(&server, 0)
        .refund(RefundRequest::new("ch_cut").idempotency_key("key-logs-2"))
        .await
        .expect_err("cut");
    assert!(error.is_outcome_unknown());
    let records = collected.take();
    assert_no_secret(&records);
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(field(&records[0], "decision"), Some("stop"));
    assert_eq!(field(&records[0], "status"), None);
    let warning = &records[1];
    assert_eq!(warning.level, Level::Warn);
    assert!(warning.message.starts_with("refund outcome unknown"));
    assert_eq!(field(warning, "idempotency_key"), Some("key-logs-2"));
    assert_eq!(field(warning, "attempts"), Some("1"));

    // Token mode: a 401 echoing the stale token, then a success echoing the
    // fresh one; neither token is in any record.
    const STALE: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsb2dzIn0.STALESIGNATURE";
    const FRESH: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsb2dzIn0.FRESHSIGNATURE";
    let server = ScriptedServer::start(vec![
        Action::Respond(
            401,
            vec![("x-request-id", format!("req_{STALE}"))],
            "{}".into(),
        ),
        Action::Respond(
            202,
            vec![("x-request-id", format!("req_{FRESH}"))],
            accepted_body("ch_relay", "rfd_1"),
        ),
    ])
    .await;
    let provider = |force: bool| async move { Ok(if force { FRESH } else { STALE }.to_owned()) };
    let relay_client = Client::builder_for_relay(server.base_url(), provider)
        .build()
        .expect("relay client");
    relay_client
        .refund(RefundRequest::new("ch_relay"))
        .await
        .expect("refund");
    let records = collected.take();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(field(&records[0], "status"), Some("401"));
    assert_eq!(field(&records[0], "decision"), Some("refresh_token"));
    assert_eq!(field(&records[1], "decision"), Some("done"));
    for record in &records {
        let line = record.line();
        assert!(!line.contains("SIGNATURE"), "a token in a log line: {line}");
    }

    // At WARN the attempts are not forwarded, the warning is; off, nothing.
    log_forward::set_max_level(Some(Level::Warn));
    let server = ScriptedServer::start(vec![Action::CutAfterRead]).await;
    let _ = client(&server, 0)
        .refund(RefundRequest::new("ch_cut"))
        .await;
    let records = collected.take();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].level, Level::Warn);
    log_forward::set_max_level(None);
    let server = ScriptedServer::start(vec![Action::CutAfterRead]).await;
    let _ = client(&server, 0)
        .refund(RefundRequest::new("ch_cut"))
        .await;
    assert!(collected.take().is_empty());
    assert_eq!(log_forward::max_level(), None);
}
