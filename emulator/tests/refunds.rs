//! API.md "Refund": the success shape, every documented 400/404, partial
//! refunds against the refundable balance, and the ledger.
#![allow(clippy::unwrap_used)]

mod fixtures;

use fixtures::*;
use refundkit::RefundRequest;

#[tokio::test]
async fn full_refund_is_202_with_the_documented_body() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let answer = refund_raw(&emulator, LIVE_KEY, &id, "{}", None).await;
    assert_eq!(answer.status, 202);
    assert_eq!(answer.body["id"], id.as_str());
    let refund_id = answer.body["refundId"].as_str().unwrap();
    assert!(
        refund_id.starts_with("rfd_") && refund_id.len() == 28,
        "{refund_id}"
    );
    assert_eq!(answer.body["message"], "Your refund has been processed");
    assert_eq!(answer.body["status"], "successful");
    assert!(answer.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn core_client_refunds_through_the_emulator() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let refund = client(&emulator, LIVE_KEY)
        .refund(RefundRequest::new(&id).metadata("order", "42"))
        .await
        .unwrap();
    assert_eq!(refund.checkout_id, id);
    assert!(!refund.replayed);
    let ledger = control(&emulator, LIVE_KEY)
        .ledger(Some(&id))
        .await
        .unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["refundId"], refund.refund_id.as_str());
    assert_eq!(ledger[0]["amount"], 1000);
    assert_eq!(ledger[0]["idempotencyKey"], refund.idempotency_key.as_str());
    assert_eq!(ledger[0]["metadata"], serde_json::json!({"order": "42"}));
    assert!(!ledger[0]["secretKeyMasked"]
        .as_str()
        .unwrap()
        .contains("0123456789"));
}

#[tokio::test]
async fn refund_of_unknown_checkout_is_404() {
    let emulator = start().await;
    let answer = refund_raw(
        &emulator,
        LIVE_KEY,
        "ch_000000000000000000000000",
        "{}",
        None,
    )
    .await;
    assert_eq!(answer.status, 404);
    assert_error_body(&answer);
}

#[tokio::test]
async fn refund_of_unpaid_checkout_is_400() {
    let emulator = start().await;
    let checkout = control(&emulator, LIVE_KEY)
        .create_checkout(1000, None)
        .await
        .unwrap();
    let answer = refund_raw(
        &emulator,
        LIVE_KEY,
        checkout["id"].as_str().unwrap(),
        "{}",
        None,
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.description(), "Checkout has not been paid.");
    assert_error_body(&answer);
}

#[tokio::test]
async fn refund_of_test_mode_checkout_is_400() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, TEST_KEY, 1000).await;
    let answer = refund_raw(&emulator, TEST_KEY, &id, "{}", None).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.description(),
        "Refunds are not supported for test-mode checkouts."
    );
    assert_error_body(&answer);
}

#[tokio::test]
async fn second_full_refund_is_400_already_refunded() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    assert_eq!(
        refund_raw(&emulator, LIVE_KEY, &id, "{}", None)
            .await
            .status,
        202
    );
    let answer = refund_raw(&emulator, LIVE_KEY, &id, "{}", None).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.description(), "Payment has already been refunded.");
    let err = client(&emulator, LIVE_KEY)
        .refund(RefundRequest::new(&id))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), refundkit::ErrorKind::AlreadyRefunded);
}

#[tokio::test]
async fn partial_refunds_draw_down_the_refundable_amount() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    assert_eq!(
        refund_raw(&emulator, LIVE_KEY, &id, r#"{"amount":300}"#, None)
            .await
            .status,
        202
    );
    assert_eq!(
        refund_raw(&emulator, LIVE_KEY, &id, r#"{"amount":300}"#, None)
            .await
            .status,
        202
    );
    // 400 left: a full refund now takes exactly that.
    assert_eq!(
        refund_raw(&emulator, LIVE_KEY, &id, "{}", None)
            .await
            .status,
        202
    );
    let amounts: Vec<i64> = control(&emulator, LIVE_KEY)
        .ledger(Some(&id))
        .await
        .unwrap()
        .iter()
        .map(|r| r["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [300, 300, 400]);
}

#[tokio::test]
async fn refund_above_the_refundable_amount_is_400() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    assert_eq!(
        refund_raw(&emulator, LIVE_KEY, &id, r#"{"amount":600}"#, None)
            .await
            .status,
        202
    );
    let answer = refund_raw(&emulator, LIVE_KEY, &id, r#"{"amount":401}"#, None).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.description(),
        "Refund amount exceeds the refundable amount."
    );
    assert_eq!(
        control(&emulator, LIVE_KEY)
            .ledger(Some(&id))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn refund_amount_must_be_a_positive_integer() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    for body in [
        r#"{"amount":0}"#,
        r#"{"amount":-5}"#,
        r#"{"amount":1.5}"#,
        r#"{"amount":"100"}"#,
    ] {
        let answer = refund_raw(&emulator, LIVE_KEY, &id, body, None).await;
        assert_eq!(answer.status, 400, "{body}");
        assert_error_body(&answer);
    }
}

#[tokio::test]
async fn refund_body_that_is_an_array_is_400() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let answer = refund_raw(&emulator, LIVE_KEY, &id, "[]", None).await;
    assert_eq!(answer.status, 400);
    assert_error_body(&answer);
}

#[tokio::test]
async fn refund_body_that_is_not_json_is_400() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    for body in ["{", "amount=5", " "] {
        let answer = refund_raw(&emulator, LIVE_KEY, &id, body, None).await;
        assert_eq!(answer.status, 400, "{body:?}");
        assert_error_body(&answer);
    }
    assert!(control(&emulator, LIVE_KEY)
        .ledger(None)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn refund_metadata_must_map_strings_to_strings() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    for body in [
        r#"{"metadata":{"n":1}}"#,
        r#"{"metadata":["a"]}"#,
        r#"{"metadata":"a"}"#,
    ] {
        let answer = refund_raw(&emulator, LIVE_KEY, &id, body, None).await;
        assert_eq!(answer.status, 400, "{body}");
        assert_error_body(&answer);
    }
}

#[tokio::test]
async fn ledger_lists_every_refund_oldest_first_and_filters_by_checkout() {
    let emulator = start().await;
    let a = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let b = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    for (id, amount) in [(&a, 100), (&b, 200), (&a, 300)] {
        let body = format!(r#"{{"amount":{amount}}}"#);
        assert_eq!(
            refund_raw(&emulator, LIVE_KEY, id, &body, None)
                .await
                .status,
            202
        );
    }
    let control = control(&emulator, LIVE_KEY);
    let all: Vec<i64> = control
        .ledger(None)
        .await
        .unwrap()
        .iter()
        .map(|r| r["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(all, [100, 200, 300]);
    let only_a = control.ledger(Some(&a)).await.unwrap();
    assert_eq!(only_a.len(), 2);
    let row = &only_a[0];
    for field in [
        "refundId",
        "checkoutId",
        "paymentId",
        "amount",
        "idempotencyKey",
        "metadata",
        "createdDate",
        "secretKeyMasked",
    ] {
        assert!(row.get(field).is_some(), "ledger row lacks {field}: {row}");
    }
    assert_eq!(row["idempotencyKey"], serde_json::Value::Null);
}

#[tokio::test]
async fn stats_count_refund_requests() {
    let emulator = start().await;
    let control = control(&emulator, LIVE_KEY);
    assert_eq!(control.stats().await.unwrap()["refundRequests"], 0);
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    refund_raw(&emulator, LIVE_KEY, &id, "[]", None).await;
    refund_raw(&emulator, LIVE_KEY, &id, "{}", None).await;
    let stats = control.stats().await.unwrap();
    assert_eq!(stats["refundRequests"], 2);
    assert_eq!(stats["refundsMade"], 1);
}

#[tokio::test]
async fn concurrent_partial_refunds_never_exceed_the_amount() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let (base, id) = (emulator.base_url(), id.clone());
        tasks.spawn(async move {
            http()
                .post(format!("{base}/api/checkouts/{id}/refund"))
                .bearer_auth(LIVE_KEY)
                .body(r#"{"amount":100}"#)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let statuses = tasks.join_all().await;
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 20);
    assert_eq!(
        control(&emulator, LIVE_KEY)
            .ledger(Some(&id))
            .await
            .unwrap()
            .len(),
        10
    );
}

#[tokio::test]
async fn checkout_metadata_chooses_the_status_of_the_202() {
    let emulator = start().await;
    let metadata = [("emulator.refund_status".to_owned(), "failed".to_owned())];
    let id = paid_checkout_with(&emulator, LIVE_KEY, 1000, Some(metadata.into())).await;
    let answer = refund_raw(&emulator, LIVE_KEY, &id, r#"{"amount":100}"#, None).await;
    assert_eq!(answer.status, 202);
    assert_eq!(answer.body["status"], "failed");
    assert_eq!(answer.body["message"], "Your refund has been processed");
    let refund = client(&emulator, LIVE_KEY)
        .refund(RefundRequest::new(&id).amount(100))
        .await
        .unwrap();
    assert_eq!(refund.status.as_str(), "failed");
    assert!(!refund.status.is_success());
}
