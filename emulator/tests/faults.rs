//! Fault injection on the refund endpoint (DESIGN.md "The emulator"):
//! drops before and after committing, 429s, 500s, delays, seeded reproducibility.
#![allow(clippy::unwrap_used)]

mod fixtures;

use fixtures::*;
use refundkit::RefundRequest;
use refundkit_emulator::{EmulatorConfig, Faults};

#[tokio::test]
async fn drop_after_commits_then_cuts_and_a_retry_with_the_key_replays() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let control = control(&emulator, LIVE_KEY);
    control
        .set_faults(&Faults {
            drop_after: 1.0,
            ..Faults::default()
        })
        .await
        .unwrap();
    let client = client(&emulator, LIVE_KEY);
    let err = client
        .refund(RefundRequest::new(&id).idempotency_key("drop-after-1"))
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err:?}");
    assert_eq!(err.idempotency_key(), Some("drop-after-1"));
    let ledger = control.ledger(Some(&id)).await.unwrap();
    assert_eq!(ledger.len(), 1, "committed before the cut");

    control.set_faults(&Faults::default()).await.unwrap();
    let refund = client
        .refund(RefundRequest::new(&id).idempotency_key("drop-after-1"))
        .await
        .unwrap();
    assert!(refund.replayed);
    assert_eq!(ledger[0]["refundId"], refund.refund_id.as_str());
    assert_eq!(control.ledger(Some(&id)).await.unwrap().len(), 1);
}

#[tokio::test]
async fn drop_before_cuts_without_processing() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let control = control(&emulator, LIVE_KEY);
    control
        .set_faults(&Faults {
            drop_before: 1.0,
            ..Faults::default()
        })
        .await
        .unwrap();
    let sent = http()
        .post(format!("{}/api/checkouts/{id}/refund", emulator.base_url()))
        .bearer_auth(LIVE_KEY)
        .header("idempotency-key", "drop-before-1")
        .body("{}")
        .send()
        .await;
    assert!(sent.is_err(), "no HTTP answer");
    assert!(control.ledger(None).await.unwrap().is_empty());
    control.set_faults(&Faults::default()).await.unwrap();
    let answer = refund_raw(&emulator, LIVE_KEY, &id, "{}", Some("drop-before-1")).await;
    assert_eq!(answer.status, 202);
    assert!(!answer.replayed(), "the key was never recorded");
}

#[tokio::test]
async fn error_5xx_answers_500_without_processing() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let control = control(&emulator, LIVE_KEY);
    control
        .set_faults(&Faults {
            error_5xx: 1.0,
            ..Faults::default()
        })
        .await
        .unwrap();
    let answer = refund_raw(&emulator, LIVE_KEY, &id, "{}", Some("k5")).await;
    assert_eq!(answer.status, 500);
    assert_error_body(&answer);
    assert!(control.ledger(None).await.unwrap().is_empty());
    control.set_faults(&Faults::default()).await.unwrap();
    let retry = refund_raw(&emulator, LIVE_KEY, &id, "{}", Some("k5")).await;
    assert_eq!(retry.status, 202);
    assert!(!retry.replayed());
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_without_processing() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let control = control(&emulator, LIVE_KEY);
    control
        .set_faults(&Faults {
            rate_limit: 1.0,
            retry_after_secs: 7,
            ..Faults::default()
        })
        .await
        .unwrap();
    let answer = refund_raw(&emulator, LIVE_KEY, &id, "{}", Some("k429")).await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.headers["retry-after"], "7");
    assert_error_body(&answer);
    assert_eq!(answer.body["errorCode"], "rate_limited");
    assert!(control.ledger(None).await.unwrap().is_empty());
    assert_eq!(control.stats().await.unwrap()["faults"]["rateLimit"], 1);
    control.set_faults(&Faults::default()).await.unwrap();
    let retry = refund_raw(&emulator, LIVE_KEY, &id, "{}", Some("k429")).await;
    assert_eq!(retry.status, 202);
    assert!(!retry.replayed(), "the key was never recorded");
}

#[tokio::test]
async fn core_client_sees_rate_limited_after_honouring_retry_after() {
    let emulator = start().await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    let control = control(&emulator, LIVE_KEY);
    control
        .set_faults(&Faults {
            rate_limit: 1.0,
            retry_after_secs: 1,
            ..Faults::default()
        })
        .await
        .unwrap();
    let client = refundkit::Client::builder(LIVE_KEY)
        .base_url(emulator.base_url())
        .max_retries(1)
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = client
        .refund(RefundRequest::new(&id).idempotency_key("rate-limited-1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), refundkit::ErrorKind::RateLimited, "{err:?}");
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.error_code(), Some("rate_limited"));
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(1)));
    assert!(err.is_retryable());
    assert!(
        !err.is_outcome_unknown(),
        "a 429 proves nothing was processed"
    );
    assert_eq!(err.attempts(), 2);
    assert_eq!(err.idempotency_key(), Some("rate-limited-1"));
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "the retry waited for Retry-After"
    );
    assert_eq!(control.stats().await.unwrap()["refundRequests"], 2);
    assert!(control.ledger(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn core_client_retries_through_flaky_refunds_without_double_refunding() {
    let emulator = start().await;
    let control = control(&emulator, LIVE_KEY);
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(paid_checkout(&emulator, LIVE_KEY, 1000).await);
    }
    control
        .set_faults(&Faults {
            drop_before: 0.2,
            drop_after: 0.2,
            error_5xx: 0.2,
            seed: Some(11),
            ..Faults::default()
        })
        .await
        .unwrap();
    let client = refundkit::Client::builder(LIVE_KEY)
        .base_url(emulator.base_url())
        .max_retries(10)
        .build()
        .unwrap();
    for id in &ids {
        let mut key = None;
        // Retry later with the same key until it goes through, as the docs say.
        loop {
            let mut request = RefundRequest::new(id);
            if let Some(k) = &key {
                request = request.idempotency_key(k);
            }
            match client.refund(request).await {
                Ok(_) => break,
                Err(e) => key = Some(e.idempotency_key().unwrap().to_owned()),
            }
        }
    }
    let ledger = control.ledger(None).await.unwrap();
    assert_eq!(ledger.len(), ids.len(), "one refund per checkout");
}

#[tokio::test]
async fn seeded_faults_are_reproducible() {
    let emulator = start().await;
    let control = control(&emulator, LIVE_KEY);
    let faults = Faults {
        error_5xx: 0.5,
        seed: Some(42),
        ..Faults::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        control.reset().await.unwrap();
        let id = paid_checkout(&emulator, LIVE_KEY, 100_000).await;
        control.set_faults(&faults).await.unwrap();
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(
                refund_raw(&emulator, LIVE_KEY, &id, r#"{"amount":1}"#, None)
                    .await
                    .status,
            );
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        runs[0].contains(&500) && runs[0].contains(&202),
        "{:?}",
        runs[0]
    );
}

#[tokio::test]
async fn faults_apply_to_the_refund_endpoint_only() {
    let emulator = start_with(EmulatorConfig {
        faults: Faults {
            drop_before: 1.0,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .await;
    let id = paid_checkout(&emulator, LIVE_KEY, 1000).await;
    control(&emulator, LIVE_KEY)
        .get_checkout(&id)
        .await
        .unwrap();
    assert!(http()
        .post(format!("{}/api/checkouts/{id}/refund", emulator.base_url()))
        .bearer_auth(LIVE_KEY)
        .body("{}")
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn invalid_faults_are_400() {
    let emulator = start().await;
    let url = format!("{}/_emulator/faults", emulator.base_url());
    for body in [
        r#"{"error_5xx": 1.5}"#,
        r#"{"rate_limit": -1}"#,
        r#"{"retry_after_secs": 86401}"#,
        r#"{"drop": 0.1}"#,
        "[]",
    ] {
        let answer = read(http().put(&url).body(body).send().await.unwrap()).await;
        assert_eq!(answer.status, 400, "{body}");
        assert_error_body(&answer);
    }
}

#[tokio::test]
async fn put_faults_answers_the_faults() {
    let emulator = start().await;
    let url = format!("{}/_emulator/faults", emulator.base_url());
    let answer = read(
        http()
            .put(&url)
            .body(r#"{"delay": 0.5, "delay_ms": 10, "seed": 3}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    let faults: Faults = serde_json::from_value(answer.body).unwrap();
    assert_eq!(faults.delay, 0.5);
    assert_eq!(faults.delay_ms, 10);
    assert_eq!(faults.seed, Some(3));
}
