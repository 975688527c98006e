//! API.md "Webhooks": subscriptions, the three event types with their
//! payloads, Standard Webhooks signatures checked by the core verifier, and
//! retries with the same webhook-id and a fresh signature.
#![allow(clippy::unwrap_used)]

mod fixtures;

use std::collections::BTreeMap;

use fixtures::*;
use refundkit::{EventData, RefundRequest};
use refundkit_emulator::EmulatorConfig;

/// Retry delays of 5 s, 5 min… become 0.5 ms, 30 ms…
fn fast_webhooks() -> EmulatorConfig {
    EmulatorConfig {
        webhook_time_scale: 0.0001,
        ..EmulatorConfig::default()
    }
}

async fn register(emulator: &refundkit_emulator::Emulator, url: &str) -> String {
    let sub = control(emulator, LIVE_KEY)
        .register_webhook("test", url)
        .await
        .unwrap();
    sub["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn registration_shows_the_secret_once() {
    let emulator = start().await;
    let control = control(&emulator, LIVE_KEY);
    let sub = control
        .register_webhook("orders", "http://127.0.0.1:9/hook")
        .await
        .unwrap();
    assert!(sub["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(sub["name"], "orders");
    assert_eq!(sub["url"], "http://127.0.0.1:9/hook");
    assert_eq!(sub["mode"], "live");
    let listed = read(
        http()
            .get(format!("{}/api/webhooks", emulator.base_url()))
            .bearer_auth(LIVE_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let subs = listed.body["subscriptions"].as_array().unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["id"], sub["id"]);
    assert!(subs[0].get("secret").is_none());
}

#[tokio::test]
async fn sixth_webhook_is_refused() {
    let emulator = start().await;
    let control = control(&emulator, LIVE_KEY);
    for i in 0..5 {
        control
            .register_webhook(&format!("w{i}"), "http://127.0.0.1:9/")
            .await
            .unwrap();
    }
    let err = control
        .register_webhook("w5", "http://127.0.0.1:9/")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
    // Another account has its own five.
    control_for_other(&emulator)
        .register_webhook("w0", "http://127.0.0.1:9/")
        .await
        .unwrap();
}

fn control_for_other(emulator: &refundkit_emulator::Emulator) -> refundkit_emulator::ControlClient {
    control(emulator, OTHER_LIVE_KEY)
}

#[tokio::test]
async fn webhook_url_must_be_http() {
    let emulator = start().await;
    for url in ["ftp://example.com/", "not a url", "/relative"] {
        let err = control(&emulator, LIVE_KEY)
            .register_webhook("w", url)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("400"), "{url}: {err}");
    }
}

#[tokio::test]
async fn deleted_webhook_is_gone() {
    let emulator = start().await;
    let sub = control(&emulator, LIVE_KEY)
        .register_webhook("w", "http://127.0.0.1:9/")
        .await
        .unwrap();
    let url = format!(
        "{}/api/webhooks/{}",
        emulator.base_url(),
        sub["id"].as_str().unwrap()
    );
    let deleted = read(
        http()
            .delete(&url)
            .bearer_auth(LIVE_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(deleted.status, 200);
    let again = read(
        http()
            .delete(&url)
            .bearer_auth(LIVE_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, 404);
    assert_error_body(&again);
}

#[tokio::test]
async fn payment_succeeded_is_delivered_signed_on_pay() {
    let emulator = start_with(fast_webhooks()).await;
    let receiver = Receiver::start(&[]).await;
    let secret = register(&emulator, &receiver.url).await;
    let metadata = BTreeMap::from([("order".to_owned(), "42".to_owned())]);
    let id = paid_checkout_with(&emulator, LIVE_KEY, 1500, Some(metadata)).await;
    let delivery = receiver.wait_for(1).await.remove(0);
    let event = delivery.verify(&secret);
    assert_eq!(event.event_type, "payment.succeeded");
    assert!(event.id.starts_with("evt_"));
    assert_eq!(event.webhook_id, delivery.header("webhook-id"));
    let EventData::PaymentSucceeded(payment) = &event.data else {
        panic!("not a payment: {event:?}");
    };
    assert!(payment.payment_id.as_deref().unwrap().starts_with("p_"));
    assert_eq!(payment.checkout_id.as_deref(), Some(id.as_str()));
    assert_eq!(payment.amount, Some(1500));
    assert_eq!(payment.currency.as_deref(), Some("ZAR"));
    assert_eq!(payment.status.as_deref(), Some("succeeded"));
    assert_eq!(payment.mode.as_deref(), Some("live"));
    assert_eq!(
        payment.metadata.get("order").map(String::as_str),
        Some("42")
    );
    assert!(event.payload["paymentMethodDetails"].is_object());
    assert_eq!(event.payload["type"], "payment");
}

#[tokio::test]
async fn refund_succeeded_is_delivered_signed_and_verifies() {
    let emulator = start_with(fast_webhooks()).await;
    let receiver = Receiver::start(&[]).await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let secret = register(&emulator, &receiver.url).await;
    let refund = client(&emulator, LIVE_KEY)
        .refund(RefundRequest::new(&id).amount(400))
        .await
        .unwrap();
    let delivery = receiver.wait_for(1).await.remove(0);
    assert_eq!(delivery.header("content-type"), "application/json");
    let event = delivery.verify(&secret);
    assert_eq!(event.event_type, "refund.succeeded");
    let r = event.refund().unwrap();
    assert_eq!(r.refund_id.as_deref(), Some(refund.refund_id.as_str()));
    assert_eq!(r.checkout_id.as_deref(), Some(id.as_str()));
    assert_eq!(r.amount, Some(400));
    assert_eq!(r.refundable_amount, Some(600));
    assert_eq!(r.status.as_deref(), Some("succeeded"));
    assert_eq!(r.mode.as_deref(), Some("live"));
    assert_eq!(r.currency.as_deref(), Some("ZAR"));
    assert!(r.payment_id.as_deref().unwrap().starts_with("p_"));
    assert_eq!(event.payload["type"], "refund");
    assert!(event.payload["createdDate"].is_string());
}

#[tokio::test]
async fn checkout_set_to_fail_gets_refund_failed_with_a_reason() {
    let emulator = start_with(fast_webhooks()).await;
    let receiver = Receiver::start(&[]).await;
    let metadata = BTreeMap::from([("emulator.refund".to_owned(), "fail".to_owned())]);
    let id = paid_checkout_with(&emulator, LIVE_KEY, 1000, Some(metadata)).await;
    let secret = register(&emulator, &receiver.url).await;
    let answer = refund_raw(&emulator, LIVE_KEY, &id, "{}", None).await;
    assert_eq!(
        answer.status, 202,
        "the refund is accepted; the webhook says it failed"
    );
    let event = receiver.wait_for(1).await.remove(0).verify(&secret);
    assert_eq!(event.event_type, "refund.failed");
    let r = event.refund().unwrap();
    assert_eq!(r.status.as_deref(), Some("failed"));
    assert!(!r.failure_reason.as_deref().unwrap_or_default().is_empty());
    assert_eq!(r.refund_id.as_deref(), answer.body["refundId"].as_str());
}

#[tokio::test]
async fn failed_delivery_is_retried_with_the_same_id_and_a_fresh_signature() {
    let emulator = start_with(fast_webhooks()).await;
    let receiver = Receiver::start(&[500, 503, 500]).await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let secret = register(&emulator, &receiver.url).await;
    refund_raw(&emulator, LIVE_KEY, &id, "{}", None).await;
    let deliveries = receiver.wait_for(4).await;
    let webhook_id = deliveries[0].header("webhook-id");
    for d in &deliveries {
        assert_eq!(d.header("webhook-id"), webhook_id);
        assert_eq!(d.body, deliveries[0].body);
        d.verify(&secret);
    }
    let log = eventually(|| async {
        let log = control(&emulator, LIVE_KEY).deliveries().await.unwrap();
        (log.len() >= 4).then_some(log)
    })
    .await;
    let statuses: Vec<_> = log.iter().map(|d| d["status"].as_u64()).collect();
    assert_eq!(statuses, [Some(500), Some(503), Some(500), Some(200)]);
    let attempts: Vec<_> = log.iter().map(|d| d["attempt"].as_u64().unwrap()).collect();
    assert_eq!(attempts, [1, 2, 3, 4]);
    for d in &log {
        assert_eq!(d["webhookId"], webhook_id);
        assert_eq!(d["eventType"], "refund.succeeded");
        assert_eq!(d["url"], receiver.url.as_str());
        assert!(d["timestamp"].is_i64());
    }
    assert!(log[0]["error"].is_string());
    assert!(log[3]["error"].is_null());
    // Acknowledged: no further attempts.
    assert_eq!(receiver.received().len(), 4);
}

#[tokio::test]
async fn unreachable_receiver_is_tried_nine_times_then_given_up() {
    let emulator = start_with(EmulatorConfig {
        webhook_time_scale: 0.00001,
        ..EmulatorConfig::default()
    })
    .await;
    // Port 9 (discard) on loopback: nothing listens, so every attempt fails.
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    register(&emulator, "http://127.0.0.1:9/hook").await;
    refund_raw(&emulator, LIVE_KEY, &id, "{}", None).await;
    let log = eventually(|| async {
        let log = control(&emulator, LIVE_KEY).deliveries().await.unwrap();
        (log.len() >= 9).then_some(log)
    })
    .await;
    assert!(log
        .iter()
        .all(|d| d["status"].is_null() && d["error"].is_string()));
    assert_eq!(log.last().unwrap()["attempt"], 9);
}

#[tokio::test]
async fn events_go_only_to_the_owning_account() {
    let emulator = start_with(fast_webhooks()).await;
    let mine = Receiver::start(&[]).await;
    let theirs = Receiver::start(&[]).await;
    register(&emulator, &mine.url).await;
    control(&emulator, OTHER_LIVE_KEY)
        .register_webhook("t", &theirs.url)
        .await
        .unwrap();
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    refund_raw(&emulator, LIVE_KEY, &id, "{}", None).await;
    let got = mine.wait_for(2).await;
    let mut types: Vec<String> = got
        .iter()
        .map(|d| {
            serde_json::from_slice::<serde_json::Value>(&d.body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    types.sort();
    assert_eq!(types, ["payment.succeeded", "refund.succeeded"]);
    assert!(theirs.received().is_empty());
}

#[tokio::test]
async fn a_huge_time_scale_leaves_the_delivery_waiting_instead_of_killing_it() {
    // 5 s × 1e19 does not fit a Duration: this used to panic the delivery
    // task right after the first failed retry.
    let emulator = start_with(EmulatorConfig {
        webhook_time_scale: 1e19,
        ..EmulatorConfig::default()
    })
    .await;
    let receiver = Receiver::start(&[500, 500]).await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    register(&emulator, &receiver.url).await;
    refund_raw(&emulator, LIVE_KEY, &id, "{}", None).await;
    // Attempts 1 and 2 (the first retry is immediate) fail ...
    receiver.wait_for(2).await;
    // ... and the task lives on, waiting for attempt 3.
    let control = control(&emulator, LIVE_KEY);
    eventually(|| async {
        let stats = control.stats().await.unwrap();
        (stats["scheduledDeliveries"] == 1).then_some(())
    })
    .await;
    let log = control.deliveries().await.unwrap();
    let statuses: Vec<_> = log.iter().map(|d| d["status"].as_u64()).collect();
    assert_eq!(statuses, [Some(500), Some(500)]);
    // A reset ends the wait.
    control.reset().await.unwrap();
    eventually(|| async {
        let stats = control.stats().await.unwrap();
        (stats["scheduledDeliveries"] == 0).then_some(())
    })
    .await;
    emulator.shutdown().await;
}
