//! `TestEmulator`, the in-process API the bindings' test helpers wrap:
//! real refunds through the core client against it, its ledger, faults and
//! deliveries, and the same state seen over the control endpoints.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use refundkit::{RefundRequest, WebhookVerifier};
use refundkit_emulator::{ControlClient, Faults, TestEmulator, TEST_WEBHOOK_TIME_SCALE};

async fn start() -> TestEmulator {
    TestEmulator::start(TEST_WEBHOOK_TIME_SCALE).await.unwrap()
}

fn client(emulator: &TestEmulator, max_retries: u32) -> refundkit::Client {
    refundkit::Client::builder(emulator.secret_key())
        .base_url(emulator.url())
        .max_retries(max_retries)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_paid_checkout_is_refunded_and_the_ledger_shows_it_here_and_over_http() {
    let emulator = start().await;
    let id = emulator.paid_checkout(5_000, None).unwrap();
    let refund = client(&emulator, 0)
        .refund(RefundRequest::new(&id).amount(1_200))
        .await
        .unwrap();
    let [row] = <[_; 1]>::try_from(emulator.refunds(Some(&id))).unwrap();
    assert_eq!(row.refund_id, refund.refund_id);
    assert_eq!((row.amount, row.status), (1_200, "succeeded"));
    assert_eq!(
        row.idempotency_key.as_deref(),
        Some(refund.idempotency_key.as_str())
    );
    let over_http = ControlClient::new(&emulator.url(), emulator.secret_key())
        .ledger(Some(&id))
        .await
        .unwrap();
    assert_eq!(over_http, vec![serde_json::to_value(&row).unwrap()]);
}

#[tokio::test]
async fn only_its_own_key_is_accepted() {
    let emulator = start().await;
    let id = emulator.paid_checkout(5_000, None).unwrap();
    let other = refundkit::Client::builder("sk_live_someoneElse0000000000")
        .base_url(emulator.url())
        .build()
        .unwrap();
    let e = other.refund(RefundRequest::new(&id)).await.unwrap_err();
    assert_eq!(e.status(), Some(403));
    assert!(emulator.refunds(None).is_empty());
}

#[tokio::test]
async fn a_lost_answer_is_retried_and_the_ledger_has_one_refund() {
    let emulator = start().await;
    let id = emulator.paid_checkout(5_000, None).unwrap();
    emulator
        .set_faults(Faults::from_json(br#"{"drop_after": 1.0}"#).unwrap())
        .unwrap();
    let e = client(&emulator, 2)
        .refund(RefundRequest::new(&id))
        .await
        .unwrap_err();
    assert!(e.is_outcome_unknown());
    assert_eq!(e.attempts(), 3);
    let keys: Vec<_> = emulator
        .refunds(Some(&id))
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    assert_eq!(keys, vec![e.idempotency_key().map(str::to_owned)]);
}

#[test]
fn faults_json_refuses_unknown_names_and_bad_probabilities() {
    let unknown = Faults::from_json(br#"{"error_500": 1}"#).unwrap_err();
    assert!(unknown.contains("unknown field `error_500`"), "{unknown}");
    assert!(unknown.contains("`error_5xx`"), "{unknown}");
    let bad = Faults::from_json(br#"{"drop_before": 2}"#).unwrap_err();
    assert!(bad.contains("drop_before must be a probability"), "{bad}");
    assert!(Faults::from_json(b"[]").is_err());
    assert_eq!(Faults::from_json(b"{}").unwrap(), Faults::default());
}

#[tokio::test]
async fn deliveries_carry_the_signed_request_even_when_nobody_listens() {
    let emulator = start().await;
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/nobody", unused.local_addr().unwrap());
    drop(unused);
    let sub = emulator.register_webhook("tests", &url).unwrap();
    assert!(!format!("{sub:?}").contains(&sub.secret));
    emulator.paid_checkout(5_000, None).unwrap();

    let waiting = emulator.wait_for_deliveries(
        Some("payment.succeeded".to_owned()),
        2,
        Duration::from_secs(10),
    );
    let log = waiting.await.unwrap();
    assert_eq!((log[0].attempt, log[1].attempt), (1, 2));
    assert!(log[0].status.is_none() && log[0].error.is_some());
    let verifier = WebhookVerifier::new(&sub.secret).unwrap();
    let headers = log[1].headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let event = verifier.verify(headers, &log[1].body).unwrap();
    assert_eq!(event.event_type, "payment.succeeded");

    let none = emulator.wait_for_deliveries(
        Some("refund.succeeded".to_owned()),
        1,
        Duration::from_millis(20),
    );
    assert!(none.await.is_none());
}

#[tokio::test]
async fn after_shutdown_the_port_is_free() {
    let emulator = start().await;
    let port = emulator.port();
    emulator.shutdown().await;
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_err();
}
