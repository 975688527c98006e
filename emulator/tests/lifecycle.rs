//! Starting, resetting and stopping the emulator.
#![allow(clippy::unwrap_used)]

mod fixtures;

use std::time::Duration;

use fixtures::*;
use refundkit_emulator::{EmulatorConfig, Faults};

#[tokio::test]
async fn base_url_is_http_on_the_bound_loopback_port() {
    let emulator = start().await;
    assert_eq!(
        emulator.base_url(),
        format!("http://127.0.0.1:{}", emulator.addr().port())
    );
    assert_ne!(emulator.addr().port(), 0);
}

#[tokio::test]
async fn reset_forgets_state_and_faults() {
    let emulator = start().await;
    let control = control(&emulator, LIVE_KEY);
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    refund_raw(&emulator, LIVE_KEY, &id, "{}", Some("k")).await;
    control
        .register_webhook("w", "http://127.0.0.1:9/")
        .await
        .unwrap();
    control
        .set_faults(&Faults {
            error_5xx: 1.0,
            ..Faults::default()
        })
        .await
        .unwrap();
    control.reset().await.unwrap();
    assert!(control.ledger(None).await.unwrap().is_empty());
    assert!(control.get_checkout(&id).await.is_err());
    assert_eq!(control.stats().await.unwrap()["refundRequests"], 0);
    let faults = read(
        http()
            .get(format!("{}/_emulator/faults", emulator.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        serde_json::from_value::<Faults>(faults.body).unwrap(),
        Faults::default()
    );
    let webhooks = read(
        http()
            .get(format!("{}/api/webhooks", emulator.base_url()))
            .bearer_auth(LIVE_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(webhooks.body["subscriptions"], serde_json::json!([]));
    // The idempotency key is new again.
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let answer = refund_raw(&emulator, LIVE_KEY, &id, "{}", Some("k")).await;
    assert_eq!(answer.status, 202);
    assert!(!answer.replayed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests_then_stops_accepting() {
    let emulator = start_with(EmulatorConfig {
        faults: Faults {
            delay: 1.0,
            delay_ms: 500,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let base = emulator.base_url();
    let in_flight = {
        let (base, id) = (base.clone(), id.clone());
        tokio::spawn(async move {
            http()
                .post(format!("{base}/api/checkouts/{id}/refund"))
                .bearer_auth(LIVE_KEY)
                .body("{}")
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    let control = control(&emulator, LIVE_KEY);
    eventually(|| async { (control.stats().await.unwrap()["faults"]["delay"] == 1).then_some(()) })
        .await;
    emulator.shutdown().await;
    assert_eq!(in_flight.await.unwrap().unwrap(), 202);
    let after = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(format!("{base}/_emulator/stats"))
        .send()
        .await;
    assert!(after.is_err(), "no longer accepting");
}

#[tokio::test]
async fn shutdown_stops_pending_webhook_retries() {
    let emulator = start().await;
    let receiver = Receiver::start(&[500]).await;
    let control = control(&emulator, LIVE_KEY);
    control.register_webhook("w", &receiver.url).await.unwrap();
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    // Attempt 1 fails, attempt 2 (after 0 s) succeeds; nothing left pending.
    receiver.wait_for(2).await;
    refund_raw(&emulator, LIVE_KEY, &id, r#"{"amount":100}"#, None).await;
    receiver.wait_for(3).await;
    // With real delays, a failing delivery would now wait 5 s; shutdown must not.
    let failing = Receiver::start(&[500, 500, 500]).await;
    control.register_webhook("w2", &failing.url).await.unwrap();
    refund_raw(&emulator, LIVE_KEY, &id, r#"{"amount":100}"#, None).await;
    failing.wait_for(2).await;
    tokio::time::timeout(Duration::from_secs(5), emulator.shutdown())
        .await
        .expect("shutdown does not wait for the retry schedule");
}
