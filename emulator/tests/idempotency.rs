//! API.md "Idempotency": replays, 409 while in flight, 422 for a different
//! request, scope per secret key, expiry, and exactly one refund under
//! heavy concurrency.
#![allow(clippy::unwrap_used)]

mod fixtures;

use std::time::Duration;

use fixtures::*;
use refundkit_emulator::{EmulatorConfig, Faults};
use serde_json::json;

#[tokio::test]
async fn repeat_replays_the_same_status_and_body() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let first = refund_raw(&emulator, LIVE_KEY, &id, "{}", Some("key-1")).await;
    let second = refund_raw(&emulator, LIVE_KEY, &id, "{}", Some("key-1")).await;
    assert_eq!(first.status, 202);
    assert!(!first.replayed());
    assert_eq!(second.status, 202);
    assert!(second.replayed());
    assert_eq!(first.raw, second.raw);
    assert_eq!(
        control(&emulator, LIVE_KEY)
            .ledger(None)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn errors_are_replayed_too() {
    let emulator = start().await;
    let checkout = control(&emulator, LIVE_KEY)
        .create_checkout(1000, None)
        .await
        .unwrap();
    let id = checkout["id"].as_str().unwrap();
    let first = refund_raw(&emulator, LIVE_KEY, id, "{}", Some("key-2")).await;
    assert_eq!(first.status, 400);
    // Paying now would make a new request succeed; the key still replays the 400.
    control(&emulator, LIVE_KEY).pay(id).await.unwrap();
    let second = refund_raw(&emulator, LIVE_KEY, id, "{}", Some("key-2")).await;
    assert_eq!(second.status, 400);
    assert!(second.replayed());
    assert_eq!(first.raw, second.raw);
}

#[tokio::test]
async fn an_empty_body_and_an_empty_object_are_the_same_request() {
    let emulator = start().await;
    for (first_body, second_body) in [("", "{}"), ("{}", "")] {
        let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
        let key = format!("same-{id}");
        let first = refund_raw(&emulator, LIVE_KEY, &id, first_body, Some(&key)).await;
        let second = refund_raw(&emulator, LIVE_KEY, &id, second_body, Some(&key)).await;
        assert_eq!(first.status, 202, "{first_body:?}: {first:?}");
        assert_eq!(
            second.status, 202,
            "{second_body:?} after {first_body:?}: {second:?}"
        );
        assert!(second.replayed());
        assert_eq!(first.raw, second.raw);
        let ledger = control(&emulator, LIVE_KEY)
            .ledger(Some(&id))
            .await
            .unwrap();
        assert_eq!(ledger.len(), 1);
    }
}

#[tokio::test]
async fn same_key_with_a_different_body_is_422() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    assert_eq!(
        refund_raw(&emulator, LIVE_KEY, &id, r#"{"amount":100}"#, Some("k"))
            .await
            .status,
        202
    );
    let answer = refund_raw(&emulator, LIVE_KEY, &id, r#"{"amount":200}"#, Some("k")).await;
    assert_eq!(answer.status, 422);
    assert_error_body(&answer);
}

#[tokio::test]
async fn same_key_on_a_different_path_is_422() {
    let emulator = start().await;
    let a = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let b = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    assert_eq!(
        refund_raw(&emulator, LIVE_KEY, &a, "{}", Some("k"))
            .await
            .status,
        202
    );
    let answer = refund_raw(&emulator, LIVE_KEY, &b, "{}", Some("k")).await;
    assert_eq!(answer.status, 422);
    assert_eq!(
        control(&emulator, LIVE_KEY)
            .ledger(Some(&b))
            .await
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn same_key_on_a_different_endpoint_is_422() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    assert_eq!(
        refund_raw(&emulator, LIVE_KEY, &id, "{}", Some("k"))
            .await
            .status,
        202
    );
    let answer = read(
        http()
            .post(format!("{}/api/checkouts", emulator.base_url()))
            .bearer_auth(LIVE_KEY)
            .header("idempotency-key", "k")
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 422);
}

#[tokio::test]
async fn bodies_are_compared_as_parsed_json() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let first = r#"{"amount":100,"metadata":{"a":"1","b":"2"}}"#;
    let same = r#"{ "metadata": {"b": "2", "a": "1"}, "amount": 100 }"#;
    assert_eq!(
        refund_raw(&emulator, LIVE_KEY, &id, first, Some("k"))
            .await
            .status,
        202
    );
    let answer = refund_raw(&emulator, LIVE_KEY, &id, same, Some("k")).await;
    assert_eq!(answer.status, 202);
    assert!(answer.replayed());
}

#[tokio::test]
async fn keys_are_scoped_to_the_secret_key() {
    let emulator = start().await;
    let mine = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let theirs = paid_checkout(&emulator, OTHER_LIVE_KEY, 1000).await;
    assert_eq!(
        refund_raw(&emulator, LIVE_KEY, &mine, "{}", Some("shared"))
            .await
            .status,
        202
    );
    let answer = refund_raw(&emulator, OTHER_LIVE_KEY, &theirs, "{}", Some("shared")).await;
    assert_eq!(answer.status, 202);
    assert!(!answer.replayed());
    assert_eq!(
        control(&emulator, LIVE_KEY)
            .ledger(None)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn checkout_creation_is_idempotent() {
    let emulator = start().await;
    let create = || {
        http()
            .post(format!("{}/api/checkouts", emulator.base_url()))
            .bearer_auth(LIVE_KEY)
            .header("idempotency-key", "create-1")
            .json(&json!({"amount": 900, "currency": "ZAR"}))
            .send()
    };
    let first = read(create().await.unwrap()).await;
    let second = read(create().await.unwrap()).await;
    assert_eq!(first.body["id"], second.body["id"]);
    assert!(second.replayed());
}

#[tokio::test]
async fn malformed_idempotency_key_is_400() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let long = "k".repeat(256);
    for key in ["", "has space", long.as_str()] {
        let answer = refund_raw(&emulator, LIVE_KEY, &id, "{}", Some(key)).await;
        assert_eq!(answer.status, 400, "{key:?}");
        assert_error_body(&answer);
    }
    assert!(control(&emulator, LIVE_KEY)
        .ledger(None)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn expired_key_is_new_again() {
    let emulator = start_with(EmulatorConfig {
        idempotency_ttl: Duration::from_millis(1),
        ..EmulatorConfig::default()
    })
    .await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    assert_eq!(
        refund_raw(&emulator, LIVE_KEY, &id, r#"{"amount":100}"#, Some("k"))
            .await
            .status,
        202
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let answer = refund_raw(&emulator, LIVE_KEY, &id, r#"{"amount":100}"#, Some("k")).await;
    assert_eq!(answer.status, 202);
    assert!(!answer.replayed());
    assert_eq!(
        control(&emulator, LIVE_KEY)
            .ledger(None)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_while_in_flight_is_409() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let control = control(&emulator, LIVE_KEY);
    control
        .set_faults(&Faults {
            delay: 1.0,
            delay_ms: 3_000,
            ..Faults::default()
        })
        .await
        .unwrap();
    let slow = {
        let (base, id) = (emulator.base_url(), id.clone());
        tokio::spawn(async move {
            http()
                .post(format!("{base}/api/checkouts/{id}/refund"))
                .bearer_auth(LIVE_KEY)
                .header("idempotency-key", "busy")
                .body("{}")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    // The emulator counts a delay after claiming the key, just before sleeping.
    eventually(|| async { (control.stats().await.unwrap()["faults"]["delay"] == 1).then_some(()) })
        .await;
    let answer = refund_raw(&emulator, LIVE_KEY, &id, "{}", Some("busy")).await;
    assert_eq!(answer.status, 409);
    assert_error_body(&answer);
    assert_eq!(slow.await.unwrap(), 202);
    let after = refund_raw(&emulator, LIVE_KEY, &id, "{}", Some("busy")).await;
    assert_eq!(after.status, 202);
    assert!(after.replayed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_with_one_key_make_exactly_one_refund() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (base, id) = (emulator.base_url(), id.clone());
        tasks.spawn(async move {
            let response = http()
                .post(format!("{base}/api/checkouts/{id}/refund"))
                .bearer_auth(LIVE_KEY)
                .header("idempotency-key", "one-key")
                .body("{}")
                .send()
                .await
                .unwrap();
            read(response).await
        });
    }
    let answers = tasks.join_all().await;
    let originals: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == 202 && !a.replayed())
        .collect();
    assert_eq!(originals.len(), 1, "exactly one request ran");
    for answer in &answers {
        match answer.status {
            202 => assert_eq!(answer.raw, originals[0].raw),
            409 => assert_error_body(answer),
            other => panic!("unexpected status {other}"),
        }
    }
    let ledger = control(&emulator, LIVE_KEY).ledger(None).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["idempotencyKey"], "one-key");
}
