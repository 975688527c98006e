//! Forwarding end to end: the relay answers what the service answered,
//! derives one upstream key per (subject, app key), and under injected
//! faults an app retrying its key gets exactly one refund.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use common::*;
use refundkit_emulator::Faults;

#[tokio::test]
async fn a_refund_is_answered_as_the_service_answered_and_replays_with_the_same_key() {
    let setup = Setup::start().await;
    let checkout = setup.paid_checkout(5000).await;
    let token = hs256(&claims("alice", "cashier"));
    let body = r#"{"amount":1200,"metadata":{"order":"42"}}"#;
    let first = setup
        .refund(Some(&token), &checkout, body, Some("order-42"))
        .await;
    assert_eq!(first.status, 202, "{first:?}");
    assert_eq!(first.body["id"], checkout.as_str());
    assert_eq!(first.body["status"], "successful");
    assert_eq!(first.body["message"], "Your refund has been processed");
    let refund_id = first.body["refundId"].as_str().unwrap().to_owned();
    assert!(refund_id.starts_with("rfd_"));
    assert!(first.header("x-request-id").unwrap().starts_with("req_"));
    assert_eq!(first.header("idempotency-key"), Some("order-42"));
    assert_eq!(first.header("idempotent-replayed"), None);

    let again = setup
        .refund(Some(&token), &checkout, body, Some("order-42"))
        .await;
    assert_eq!(again.status, 202);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["refundId"], refund_id.as_str());

    let ledger = setup.ledger().await;
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["amount"], 1200);

    let rows = setup.journal_rows().await;
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row["outcome"], "succeeded");
        assert_eq!(row["subject"], "alice");
        assert_eq!(row["role"], "cashier");
        assert_eq!(row["checkout_id"], checkout.as_str());
        assert_eq!(row["amount"], 1200);
        assert_eq!(row["app_key"], "order-42");
        assert_eq!(row["refund_id"], refund_id.as_str());
        assert_eq!(row["http_status"], 202);
        assert!(row["request_id"].as_str().unwrap().starts_with("req_"));
        assert!(row["at"].as_str().unwrap().ends_with('Z'));
    }
    let upstream_key = rows[0]["upstream_key"].as_str().unwrap();
    assert_ne!(upstream_key, "order-42", "the upstream key is derived");
    assert_eq!(
        upstream_key,
        refundkit_relay::upstream::upstream_key("alice", "order-42").unwrap()
    );
}

#[tokio::test]
async fn service_refusals_come_back_unchanged() {
    let setup = Setup::start().await;
    let checkout = setup.paid_checkout(1000).await;
    let token = hs256(&claims("alice", "cashier"));
    let direct = reqwest::Client::new()
        .post(format!(
            "{}/api/checkouts/{checkout}/refund",
            setup.emulator.base_url()
        ))
        .bearer_auth(SECRET_KEY)
        .body(r#"{"amount":2000}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 400);
    let direct_body: serde_json::Value = direct.json().await.unwrap();

    let relayed = setup
        .refund(
            Some(&token),
            &checkout,
            r#"{"amount":2000}"#,
            Some("too-much"),
        )
        .await;
    assert_eq!(relayed.status, 400);
    assert_eq!(relayed.body, direct_body);
    assert!(relayed.header("x-request-id").is_some());

    let missing = setup
        .refund(
            Some(&token),
            "ch_doesnotexist0000000000",
            r#"{"amount":100}"#,
            Some("k404"),
        )
        .await;
    assert_eq!(missing.status, 404, "{missing:?}");
    assert!(setup.ledger().await.is_empty());
    let outcomes: Vec<_> = setup
        .journal_rows()
        .await
        .iter()
        .map(|r| r["outcome"].clone())
        .collect();
    assert_eq!(outcomes, ["failed", "failed"]);
}

#[tokio::test]
async fn two_subjects_with_the_same_app_key_never_collide() {
    let setup = Setup::start().await;
    let mut refund_ids = HashSet::new();
    for who in ["alice", "bob"] {
        let checkout = setup.paid_checkout(1000).await;
        let token = hs256(&claims(who, "cashier"));
        let answer = setup
            .refund(
                Some(&token),
                &checkout,
                r#"{"amount":500}"#,
                Some("order-1"),
            )
            .await;
        assert_eq!(answer.status, 202, "{who}: {answer:?}");
        assert_eq!(answer.header("idempotent-replayed"), None, "{who}");
        refund_ids.insert(answer.body["refundId"].as_str().unwrap().to_owned());
    }
    assert_eq!(refund_ids.len(), 2);
    assert_eq!(setup.ledger().await.len(), 2);
}

#[tokio::test]
async fn an_app_without_a_key_gets_one_back_and_can_retry_with_it() {
    let setup = Setup::start().await;
    let checkout = setup.paid_checkout(1000).await;
    let token = hs256(&claims("alice", "manager"));
    let first = setup.refund(Some(&token), &checkout, "", None).await;
    assert_eq!(first.status, 202, "{first:?}");
    let key = first.header("idempotency-key").unwrap().to_owned();
    assert_eq!(key.len(), 36, "a UUID: {key}");
    let again = setup.refund(Some(&token), &checkout, "", Some(&key)).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let ledger = setup.ledger().await;
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        ledger[0]["amount"], 1000,
        "an empty body refunds everything"
    );
}

#[tokio::test]
async fn malformed_requests_get_400_and_reach_no_upstream() {
    let setup = Setup::start().await;
    let checkout = setup.paid_checkout(1000).await;
    let token = hs256(&claims("alice", "cashier"));
    let long_key = "k".repeat(256);
    for (body, key) in [
        ("[1]", "k1"),
        (r#"{"amount":"100"}"#, "k2"),
        (r#"{"amount":0}"#, "k3"),
        (r#"{"amount":100,"refundAll":true}"#, "k4"),
        (r#"{"amount":100}"#, long_key.as_str()),
    ] {
        let answer = setup.refund(Some(&token), &checkout, body, Some(key)).await;
        assert_eq!(answer.status, 400, "{body}: {answer:?}");
        assert_eq!(answer.body["errorCode"], "invalid_request");
    }
    let bad_id = setup
        .refund(Some(&token), "ch_bad%20id", r#"{"amount":100}"#, Some("k5"))
        .await;
    assert_eq!(bad_id.status, 400, "{bad_id:?}");
    assert_eq!(setup.upstream_refund_requests().await, 0);
}

#[tokio::test]
async fn an_unreachable_service_answers_502_with_the_apps_key() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("relay.db");
    let relay = start_relay(&upstream, &journal).await;
    let token = hs256(&claims("alice", "cashier"));
    let answer = refund_at(
        &relay.base_url(),
        Some(&token),
        "ch_any",
        r#"{"amount":100}"#,
        Some("order-9"),
    )
    .await;
    assert_eq!(answer.status, 502, "{answer:?}");
    assert_eq!(answer.body["errorCode"], "upstream_unreachable");
    assert_eq!(answer.header("idempotency-key"), Some("order-9"));
    assert!(answer.body["description"]
        .as_str()
        .unwrap()
        .contains("order-9"));
    let rows = journal_rows(&journal).await;
    assert_eq!(rows[0]["http_status"], 502);
}

#[tokio::test]
async fn an_app_retrying_its_key_through_faults_gets_exactly_one_refund_each() {
    let setup = Setup::start().await;
    setup.inject_connection_faults(12).await;
    let token = hs256(&claims("alice", "cashier"));
    let mut checkouts = Vec::new();
    for _ in 0..8 {
        checkouts.push(setup.paid_checkout(1000).await);
    }
    for (i, checkout) in checkouts.iter().enumerate() {
        let key = format!("fault-order-{i}");
        let mut refund_id = None;
        for _ in 0..20 {
            let answer = setup
                .refund(Some(&token), checkout, r#"{"amount":700}"#, Some(&key))
                .await;
            match answer.status {
                202 => {
                    refund_id = Some(answer.body["refundId"].as_str().unwrap().to_owned());
                    break;
                }
                409 | 500..=504 => assert_eq!(answer.header("idempotency-key"), Some(key.as_str())),
                other => panic!("unexpected {other}: {answer:?}"),
            }
        }
        let refund_id = refund_id.expect("a refund within 20 tries");
        let ledger = setup.control.ledger(Some(checkout)).await.unwrap();
        assert_eq!(ledger.len(), 1, "{checkout}: {ledger:?}");
        assert_eq!(ledger[0]["refundId"], refund_id.as_str());
    }
    let stats = setup.control.stats().await.unwrap();
    let injected = &stats["faults"];
    assert!(
        injected["dropAfter"].as_u64().unwrap() + injected["error5xx"].as_u64().unwrap() > 0,
        "faults were injected: {stats}"
    );
}

#[tokio::test]
async fn a_service_too_slow_to_answer_gets_504_with_the_apps_key() {
    let emulator = refundkit_emulator::Emulator::start(Default::default())
        .await
        .unwrap();
    let control = refundkit_emulator::ControlClient::new(&emulator.base_url(), SECRET_KEY);
    let checkout = control.create_checkout(1000, None).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    control.pay(&checkout).await.unwrap();
    control
        .set_faults(&Faults {
            delay: 1.0,
            delay_ms: 2000,
            ..Faults::default()
        })
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("relay.db");
    let mut config = relay_config(&emulator.base_url(), &journal);
    config.attempt_timeout = std::time::Duration::from_millis(200);
    config.total_timeout = std::time::Duration::from_millis(500);
    let relay = refundkit_relay::Relay::start(config).await.unwrap();
    let token = hs256(&claims("alice", "cashier"));
    let answer = refund_at(
        &relay.base_url(),
        Some(&token),
        &checkout,
        r#"{"amount":100}"#,
        Some("slow-1"),
    )
    .await;
    assert_eq!(answer.status, 504, "{answer:?}");
    assert_eq!(answer.body["errorCode"], "upstream_timeout");
    assert_eq!(answer.header("idempotency-key"), Some("slow-1"));
    assert!(answer.body["errorMessage"]
        .as_str()
        .unwrap()
        .contains("may have been made"));
    let rows = journal_rows(&journal).await;
    assert_eq!(rows[0]["outcome"], "unknown");
    assert_eq!(rows[0]["http_status"], 504);
}

#[tokio::test]
async fn a_refused_refund_retried_with_its_key_comes_back_marked_replayed() {
    let setup = Setup::start().await;
    let checkout = setup.paid_checkout(1000).await;
    let token = hs256(&claims("mgr", "manager"));
    // More than the checkout holds: the service refuses, and stores that
    // answer under the key.
    let body = r#"{"amount":4000}"#;
    let first = setup
        .refund(Some(&token), &checkout, body, Some("too-much"))
        .await;
    assert!((400..500).contains(&first.status), "{first:?}");
    assert_eq!(first.header("idempotent-replayed"), None, "{first:?}");

    let again = setup
        .refund(Some(&token), &checkout, body, Some("too-much"))
        .await;
    assert_eq!(again.status, first.status, "{again:?}");
    assert_eq!(again.body, first.body, "the same answer, as it came");
    assert_eq!(
        again.header("idempotent-replayed"),
        Some("true"),
        "{again:?}"
    );
    assert!(again.header("x-request-id").is_some(), "{again:?}");
    assert!(setup.ledger().await.is_empty());
}
