//! Role policies and limits end to end: per-refund limits, the daily limit
//! under 40 concurrent refunds, the rate limit's 429 + Retry-After, and a
//! journal that never holds the secret key or a token.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

#[tokio::test]
async fn per_refund_limits_and_unknown_roles_get_403_naming_the_limit() {
    let setup = Setup::start().await;
    let checkout = setup.paid_checkout(10_000).await;
    let cashier = hs256(&claims("alice", "cashier"));
    let cases = [
        (cashier.as_str(), r#"{"amount":5001}"#, "max_amount"),
        (cashier.as_str(), "{}", "allow_full"),
        (cashier.as_str(), "", "allow_full"),
    ];
    for (token, body, limit) in cases {
        let answer = setup.refund(Some(token), &checkout, body, Some("k")).await;
        assert_eq!(answer.status, 403, "{body}: {answer:?}");
        assert_eq!(answer.body["errorCode"], "forbidden_by_policy");
        let message = answer.body["description"].as_str().unwrap();
        assert!(message.contains(limit), "{body}: {message}");
    }
    let janitor = hs256(&claims("carol", "janitor"));
    let answer = setup
        .refund(Some(&janitor), &checkout, r#"{"amount":1}"#, Some("k"))
        .await;
    assert_eq!(answer.status, 403);
    assert!(answer.body["errorMessage"]
        .as_str()
        .unwrap()
        .contains("no role"));
    assert_eq!(setup.upstream_refund_requests().await, 0);
    let rows = setup.journal_rows().await;
    assert_eq!(rows.len(), 4);
    assert!(rows
        .iter()
        .all(|r| r["outcome"] == "forbidden" && r["http_status"] == 403));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_concurrent_refunds_never_pass_the_daily_limit() {
    let setup = Setup::start().await;
    let mut checkouts = Vec::new();
    for _ in 0..40 {
        checkouts.push(setup.paid_checkout(1000).await);
    }
    let token = hs256(&claims("alice", "cashier"));
    let base = setup.relay.base_url();
    let tasks: Vec<_> = checkouts
        .iter()
        .enumerate()
        .map(|(i, checkout)| {
            let (base, token, checkout) = (base.clone(), token.clone(), checkout.clone());
            tokio::spawn(async move {
                let key = format!("daily-{i}");
                refund_at(
                    &base,
                    Some(&token),
                    &checkout,
                    r#"{"amount":1000}"#,
                    Some(&key),
                )
                .await
            })
        })
        .collect();
    let mut accepted = Vec::new();
    let mut refused = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        let answer = task.await.unwrap();
        match answer.status {
            202 => accepted.push(i),
            403 => {
                let message = answer.body["description"].as_str().unwrap();
                assert!(message.contains("daily_limit"), "{message}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {answer:?}"),
        }
    }
    // daily_limit = 15000 and each refund is 1000.
    assert_eq!(accepted.len(), 15);
    assert_eq!(refused, 25);
    let ledger = setup.ledger().await;
    let total: i64 = ledger.iter().map(|r| r["amount"].as_i64().unwrap()).sum();
    assert_eq!(total, 15_000);

    // A retry of an accepted key replays: it is not counted again.
    let i = accepted[0];
    let key = format!("daily-{i}");
    let again = setup
        .refund(
            Some(&token),
            &checkouts[i],
            r#"{"amount":1000}"#,
            Some(&key),
        )
        .await;
    assert_eq!(again.status, 202, "{again:?}");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // Another subject has a day of its own.
    let bob = hs256(&claims("bob", "cashier"));
    let free = checkouts
        .iter()
        .enumerate()
        .find(|(i, _)| !accepted.contains(i))
        .unwrap()
        .1;
    let answer = setup
        .refund(Some(&bob), free, r#"{"amount":1000}"#, Some("bob-1"))
        .await;
    assert_eq!(answer.status, 202, "{answer:?}");
}

#[tokio::test]
async fn a_refund_the_service_refused_gives_its_cents_back() {
    let setup = Setup::start().await;
    let token = hs256(&claims("alice", "cashier"));
    let small = setup.paid_checkout(1000).await;
    let refused = setup
        .refund(Some(&token), &small, r#"{"amount":5000}"#, Some("too-much"))
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    for i in 0..3 {
        let checkout = setup.paid_checkout(5000).await;
        let key = format!("full-day-{i}");
        let answer = setup
            .refund(Some(&token), &checkout, r#"{"amount":5000}"#, Some(&key))
            .await;
        assert_eq!(answer.status, 202, "refund {i} fits in the day: {answer:?}");
    }
    let checkout = setup.paid_checkout(5000).await;
    let over = setup
        .refund(
            Some(&token),
            &checkout,
            r#"{"amount":1}"#,
            Some("one-cent-more"),
        )
        .await;
    assert_eq!(over.status, 403, "{over:?}");
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let setup = Setup::start().await;
    let token = hs256(&claims("dave", "slow"));
    for i in 0..3 {
        let answer = setup
            .refund(
                Some(&token),
                "ch_unknown000000000000",
                r#"{"amount":100}"#,
                Some(&format!("r{i}")),
            )
            .await;
        assert_eq!(answer.status, 404, "forwarded: {answer:?}");
    }
    let limited = setup
        .refund(
            Some(&token),
            "ch_unknown000000000000",
            r#"{"amount":100}"#,
            Some("r3"),
        )
        .await;
    assert_eq!(limited.status, 429, "{limited:?}");
    assert_eq!(limited.body["errorCode"], "rate_limited");
    let after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=20).contains(&after),
        "3 per minute refills one in 20 s: {after}"
    );
    assert_eq!(setup.upstream_refund_requests().await, 3);
    let other = hs256(&claims("erin", "slow"));
    let answer = setup
        .refund(
            Some(&other),
            "ch_unknown000000000000",
            r#"{"amount":100}"#,
            Some("e1"),
        )
        .await;
    assert_eq!(answer.status, 404, "each subject has its own bucket");
}

#[tokio::test]
async fn the_journal_never_holds_the_secret_key_or_a_token() {
    let setup = Setup::start().await;
    let checkout = setup.paid_checkout(5000).await;
    let tokens = [
        hs256(&claims("alice", "cashier")),
        signed_with("rsa-1", &claims("alice", "cashier")),
        hs256(&claims("alice", "janitor")),
    ];
    for (i, token) in tokens.iter().enumerate() {
        setup
            .refund(
                Some(token),
                &checkout,
                r#"{"amount":100}"#,
                Some(&format!("j{i}")),
            )
            .await;
    }
    setup
        .refund(Some(SECRET_KEY), &checkout, "{}", Some("j-sk"))
        .await;
    assert_eq!(setup.journal_rows().await.len(), 4);
    let mut bytes = std::fs::read(&setup.journal).unwrap();
    bytes.extend(std::fs::read(setup.journal.with_extension("db-wal")).unwrap_or_default());
    let mut needles: Vec<&[u8]> = vec![
        SECRET_KEY.as_bytes(),
        b"relaytests0123456789",
        HS256_SECRET.as_bytes(),
    ];
    for token in &tokens {
        needles.push(token.as_bytes());
        needles.extend(token.split('.').map(str::as_bytes));
    }
    for needle in needles {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{} found in the journal",
            String::from_utf8_lossy(needle)
        );
    }
}
