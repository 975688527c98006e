//! API.md "Authentication": 403 (not 401) with the error body; checkouts
//! belong to the key that made them; the key decides the mode.
#![allow(clippy::unwrap_used)]

mod fixtures;

use fixtures::*;
use refundkit_emulator::EmulatorConfig;

async fn create_checkout_with_auth(base: &str, auth: Option<&str>) -> Answer {
    let mut req = http()
        .post(format!("{base}/api/checkouts"))
        .json(&serde_json::json!({"amount": 1000, "currency": "ZAR"}));
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    read(req.send().await.unwrap()).await
}

#[tokio::test]
async fn missing_key_is_403_with_the_error_body() {
    let emulator = start().await;
    let answer = create_checkout_with_auth(&emulator.base_url(), None).await;
    assert_eq!(answer.status, 403);
    assert_error_body(&answer);
}

#[tokio::test]
async fn malformed_key_is_403() {
    let emulator = start().await;
    for auth in [
        "Bearer pk_live_abc",
        "Bearer sk_live_",
        "Basic sk_live_abcdef",
        "sk_live_abcdef",
        "Bearer sk_prod_abc",
    ] {
        let answer = create_checkout_with_auth(&emulator.base_url(), Some(auth)).await;
        assert_eq!(answer.status, 403, "{auth}");
        assert_error_body(&answer);
    }
}

#[tokio::test]
async fn key_outside_the_configured_list_is_403() {
    let emulator = start_with(EmulatorConfig {
        secret_keys: vec![LIVE_KEY.to_owned()],
        ..EmulatorConfig::default()
    })
    .await;
    let other = create_checkout_with_auth(
        &emulator.base_url(),
        Some(&format!("Bearer {OTHER_LIVE_KEY}")),
    )
    .await;
    assert_eq!(other.status, 403);
    assert_error_body(&other);
    let allowed =
        create_checkout_with_auth(&emulator.base_url(), Some(&format!("Bearer {LIVE_KEY}"))).await;
    assert_eq!(allowed.status, 200);
}

#[tokio::test]
async fn error_bodies_never_echo_the_key() {
    let emulator = start_with(EmulatorConfig {
        secret_keys: vec![LIVE_KEY.to_owned()],
        ..EmulatorConfig::default()
    })
    .await;
    let answer = create_checkout_with_auth(
        &emulator.base_url(),
        Some(&format!("Bearer {OTHER_LIVE_KEY}")),
    )
    .await;
    assert!(!String::from_utf8_lossy(&answer.raw).contains("ZYXWVUTSRQ"));
}

#[tokio::test]
async fn refund_without_a_key_is_403() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let answer = read(
        http()
            .post(format!("{}/api/checkouts/{id}/refund", emulator.base_url()))
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 403);
    assert_error_body(&answer);
    assert!(control(&emulator, LIVE_KEY)
        .ledger(None)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn checkout_of_another_key_is_404() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let other = control(&emulator, OTHER_LIVE_KEY);
    let err = other.get_checkout(&id).await.unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    let answer = refund_raw(&emulator, OTHER_LIVE_KEY, &id, "{}", None).await;
    assert_eq!(answer.status, 404);
    assert_error_body(&answer);
}

#[tokio::test]
async fn processing_mode_follows_the_key() {
    let emulator = start().await;
    let live = control(&emulator, LIVE_KEY)
        .create_checkout(500, None)
        .await
        .unwrap();
    let test = control(&emulator, TEST_KEY)
        .create_checkout(500, None)
        .await
        .unwrap();
    assert_eq!(live["processingMode"], "live");
    assert_eq!(test["processingMode"], "test");
}

#[tokio::test]
async fn every_response_has_a_request_id() {
    let emulator = start().await;
    let base = emulator.base_url();
    let answers = [
        create_checkout_with_auth(&base, None).await,
        create_checkout_with_auth(&base, Some(&format!("Bearer {LIVE_KEY}"))).await,
        read(http().get(format!("{base}/nowhere")).send().await.unwrap()).await,
        read(
            http()
                .get(format!("{base}/_emulator/stats"))
                .send()
                .await
                .unwrap(),
        )
        .await,
    ];
    let mut ids: Vec<&str> = answers
        .iter()
        .map(|a| {
            a.headers
                .get("x-request-id")
                .expect("x-request-id")
                .to_str()
                .unwrap()
        })
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), answers.len(), "request ids are distinct");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_the_error_body() {
    let emulator = start().await;
    let base = emulator.base_url();
    let missing = read(
        http()
            .get(format!("{base}/api/nothing"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_error_body(&missing);
    let wrong_method = read(
        http()
            .delete(format!("{base}/api/checkouts"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(wrong_method.status, 405);
    assert_error_body(&wrong_method);
}
