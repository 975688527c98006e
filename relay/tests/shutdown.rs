//! The graceful stop: a refund in flight when the relay is told to stop is
//! finished, answered and journaled; new connections are refused.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use refundkit_emulator::Faults;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_refunds_in_flight() {
    let Setup {
        emulator,
        relay,
        control,
        journal,
        _dir,
    } = Setup::start().await;
    let checkout = control.create_checkout(1000, None).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    control.pay(&checkout).await.unwrap();
    control
        .set_faults(&Faults {
            delay: 1.0,
            delay_ms: 1500,
            ..Faults::default()
        })
        .await
        .unwrap();
    let base = relay.base_url();
    let token = hs256(&claims("alice", "cashier"));
    let in_flight = {
        let (base, checkout) = (base.clone(), checkout.clone());
        tokio::spawn(async move {
            refund_at(
                &base,
                Some(&token),
                &checkout,
                r#"{"amount":1000}"#,
                Some("k1"),
            )
            .await
        })
    };
    // Wait until the refund has reached the emulator, then stop the relay.
    for _ in 0..200 {
        let stats = control.stats().await.unwrap();
        if stats["refundRequests"].as_u64().unwrap() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    relay.shutdown().await;

    let answer = in_flight.await.unwrap();
    assert_eq!(answer.status, 202, "{answer:?}");
    let rows = journal_rows(&journal).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["outcome"], "succeeded");
    assert_eq!(control.ledger(Some(&checkout)).await.unwrap().len(), 1);
    let refused = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(refused.is_err(), "the relay no longer accepts connections");
    emulator.shutdown().await;
}

#[tokio::test]
async fn healthz_answers_ok() {
    let setup = Setup::start().await;
    let answer = reqwest::get(format!("{}/healthz", setup.relay.base_url()))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}
