//! API.md "Checkouts": create, validate, read, pay.
#![allow(clippy::unwrap_used)]

mod fixtures;

use fixtures::*;
use serde_json::json;

fn is_id(value: &serde_json::Value, prefix: &str) -> bool {
    value
        .as_str()
        .and_then(|s| s.strip_prefix(prefix))
        .is_some_and(|rest| rest.len() == 24 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

async fn create(emulator: &refundkit_emulator::Emulator, body: serde_json::Value) -> Answer {
    let req = http()
        .post(format!("{}/api/checkouts", emulator.base_url()))
        .bearer_auth(LIVE_KEY)
        .json(&body);
    read(req.send().await.unwrap()).await
}

#[tokio::test]
async fn created_checkout_has_the_documented_fields() {
    let emulator = start().await;
    let answer = create(
        &emulator,
        json!({"amount": 1234, "currency": "ZAR", "metadata": {"order": "42"}}),
    )
    .await;
    assert_eq!(answer.status, 200);
    let c = &answer.body;
    assert!(is_id(&c["id"], "ch_"), "{c}");
    assert!(c["redirectUrl"].is_string());
    assert_eq!(c["status"], "created");
    assert_eq!(c["amount"], 1234);
    assert_eq!(c["currency"], "ZAR");
    assert_eq!(c["paymentId"], serde_json::Value::Null);
    assert_eq!(c["processingMode"], "live");
    assert_eq!(c["metadata"], json!({"order": "42"}));
}

#[tokio::test]
async fn checkout_amount_below_200_is_400() {
    let emulator = start().await;
    let answer = create(&emulator, json!({"amount": 199, "currency": "ZAR"})).await;
    assert_eq!(answer.status, 400);
    assert_error_body(&answer);
    assert_eq!(
        create(&emulator, json!({"amount": 200, "currency": "ZAR"}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn checkout_amount_must_be_an_integer() {
    let emulator = start().await;
    for amount in [json!(250.5), json!("250"), json!(null)] {
        let answer = create(&emulator, json!({"amount": amount, "currency": "ZAR"})).await;
        assert_eq!(answer.status, 400, "{amount}");
        assert_error_body(&answer);
    }
}

#[tokio::test]
async fn checkout_currency_other_than_zar_is_400() {
    let emulator = start().await;
    for body in [
        json!({"amount": 500, "currency": "USD"}),
        json!({"amount": 500}),
    ] {
        let answer = create(&emulator, body).await;
        assert_eq!(answer.status, 400);
        assert_error_body(&answer);
    }
}

#[tokio::test]
async fn checkout_metadata_must_map_strings_to_strings() {
    let emulator = start().await;
    let answer = create(
        &emulator,
        json!({"amount": 500, "currency": "ZAR", "metadata": {"n": 1}}),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_error_body(&answer);
}

#[tokio::test]
async fn get_returns_the_same_object() {
    let emulator = start().await;
    let control = control(&emulator, LIVE_KEY);
    let created = control.create_checkout(700, None).await.unwrap();
    let fetched = control
        .get_checkout(created["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(created, fetched);
}

#[tokio::test]
async fn unknown_checkout_is_404() {
    let emulator = start().await;
    let answer = read(
        http()
            .get(format!(
                "{}/api/checkouts/ch_doesnotexist",
                emulator.base_url()
            ))
            .bearer_auth(LIVE_KEY)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 404);
    assert_error_body(&answer);
}

#[tokio::test]
async fn paying_completes_the_checkout_with_a_payment_id() {
    let emulator = start().await;
    let control = control(&emulator, LIVE_KEY);
    let created = control.create_checkout(700, None).await.unwrap();
    let id = created["id"].as_str().unwrap();
    let paid = control.pay(id).await.unwrap();
    assert_eq!(paid["status"], "completed");
    assert!(is_id(&paid["paymentId"], "p_"), "{paid}");
    assert_eq!(control.get_checkout(id).await.unwrap(), paid);
}

#[tokio::test]
async fn paying_twice_is_400() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 700).await;
    let err = control(&emulator, LIVE_KEY).pay(&id).await.unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
}
