//! The Rust client in token mode → relay → emulator: the app's side of the
//! whole path, with real JWTs, real HTTP and the real emulator.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use refundkit::{Client, ErrorKind, RefundRequest};
use serde_json::json;

/// A token-mode client of `relay` whose provider returns `token`.
fn app_client(relay: &str, token: String) -> Client {
    Client::builder_for_relay(relay, move |_force_refresh: bool| {
        let token = token.clone();
        async move { Ok(token) }
    })
    .max_retries(6)
    .build()
    .unwrap()
}

#[tokio::test]
async fn an_app_refunds_through_the_relay_and_its_retry_replays() {
    let setup = Setup::start().await;
    let checkout = setup.paid_checkout(5000).await;
    let client = app_client(&setup.relay.base_url(), hs256(&claims("alice", "cashier")));
    let request = RefundRequest::new(&checkout)
        .amount(1500)
        .metadata("order", "42")
        .idempotency_key("order-42-refund");
    let refund = client.refund(request.clone()).await.unwrap();
    assert!(refund.refund_id.starts_with("rfd_"));
    assert_eq!(refund.idempotency_key, "order-42-refund");
    assert!(!refund.replayed);
    assert!(refund.request_id.as_deref().unwrap().starts_with("req_"));
    let again = client.refund(request).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.refund_id, refund.refund_id);
    let ledger = setup.ledger().await;
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["amount"], 1500);
}

#[tokio::test]
async fn a_401_makes_the_app_refresh_its_token_and_repeat_with_the_same_key() {
    let setup = Setup::start().await;
    let checkout = setup.paid_checkout(1000).await;
    let expired = hs256(&json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "roles": ["cashier"],
        "exp": now() - 3600,
    }));
    let fresh = hs256(&claims("alice", "cashier"));
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let client = Client::builder_for_relay(setup.relay.base_url(), move |force_refresh: bool| {
        counted.fetch_add(1, Ordering::SeqCst);
        let token = if force_refresh {
            fresh.clone()
        } else {
            expired.clone()
        };
        async move { Ok(token) }
    })
    .build()
    .unwrap();
    let refund = client
        .refund(
            RefundRequest::new(&checkout)
                .amount(1000)
                .idempotency_key("k-refresh"),
        )
        .await
        .unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "asked once, then refreshed once"
    );
    assert_eq!(refund.idempotency_key, "k-refresh");
    let outcomes: Vec<_> = setup
        .journal_rows()
        .await
        .iter()
        .map(|r| r["outcome"].clone())
        .collect();
    assert_eq!(outcomes, ["invalid_token", "succeeded"]);
    assert_eq!(setup.ledger().await.len(), 1);
}

#[tokio::test]
async fn policy_refusals_reach_the_app_as_typed_errors_with_its_key() {
    let setup = Setup::start().await;
    let checkout = setup.paid_checkout(10_000).await;
    let client = app_client(&setup.relay.base_url(), hs256(&claims("alice", "cashier")));
    let error = client
        .refund(
            RefundRequest::new(&checkout)
                .amount(9000)
                .idempotency_key("too-much"),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Authentication);
    assert_eq!(error.status(), Some(403));
    assert_eq!(error.error_code(), Some("forbidden_by_policy"));
    assert!(error.message().contains("max_amount"), "{error}");
    assert_eq!(error.idempotency_key(), Some("too-much"));
    assert_eq!(error.attempts(), 1, "403 is never retried");
    assert_eq!(setup.upstream_refund_requests().await, 0);
}

#[tokio::test]
async fn the_app_honours_the_relays_retry_after() {
    let setup = Setup::start().await;
    let token = hs256(&claims("frank", "burst"));
    // Empty frank's bucket (60 a minute: one more a second).
    for i in 0..60 {
        let answer = setup
            .refund(
                Some(&token),
                "ch_unknown000000000000",
                r#"{"amount":1}"#,
                Some(&format!("b{i}")),
            )
            .await;
        assert_eq!(answer.status, 404);
    }
    let checkout = setup.paid_checkout(1000).await;
    let client = app_client(&setup.relay.base_url(), token);
    let refund = client
        .refund(
            RefundRequest::new(&checkout)
                .amount(100)
                .idempotency_key("after-429"),
        )
        .await
        .unwrap();
    assert!(refund.attempts >= 2, "429 first, then success: {refund:?}");
    let outcomes: Vec<_> = setup
        .journal_rows()
        .await
        .iter()
        .map(|r| r["outcome"].clone())
        .collect();
    assert!(outcomes.contains(&json!("rate_limited")));
    assert_eq!(
        setup.control.ledger(Some(&checkout)).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn through_faults_the_app_gets_exactly_one_refund_per_key() {
    let setup = Setup::start().await;
    setup.inject_connection_faults(21).await;
    let client = app_client(&setup.relay.base_url(), hs256(&claims("alice", "cashier")));
    for i in 0..6 {
        let checkout = setup.paid_checkout(1000).await;
        let key = format!("token-fault-{i}");
        let mut made = None;
        for _ in 0..5 {
            match client
                .refund(
                    RefundRequest::new(&checkout)
                        .amount(800)
                        .idempotency_key(&key),
                )
                .await
            {
                Ok(refund) => {
                    made = Some(refund);
                    break;
                }
                Err(e) => assert!(e.is_retryable() || e.is_outcome_unknown(), "{e:?}"),
            }
        }
        let made = made.expect("refunded within 5 calls");
        let ledger = setup.control.ledger(Some(&checkout)).await.unwrap();
        assert_eq!(ledger.len(), 1, "{key}: {ledger:?}");
        assert_eq!(ledger[0]["refundId"], made.refund_id.as_str());
    }
}
