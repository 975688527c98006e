//! `refundkit relay` as a process: killed with SIGKILL in the middle of a
//! run and restarted on the same journal, an app retrying its keys still
//! gets exactly one refund per key; SIGTERM finishes the refund in flight
//! and exits 0; configuration mistakes are usage errors.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{run_cli, spawn_announcing, write_file, Announced, TestEmulator};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use refundkit_emulator::Faults;
use serde_json::{json, Value};

const JWT_ENV: &str = "RELAY_CLI_TEST_JWT_SECRET";
const JWT_SECRET: &str = "relay-cli-test-secret-0123456789abcdefgh";

fn auth_file(dir: &Path) -> String {
    write_file(
        dir,
        "auth.toml",
        &format!(
            "[jwt]\nissuer = \"https://auth.example.com\"\naudience = \"refundkit-relay\"\n\
             hs256_secret_env = \"{JWT_ENV}\"\n\n[[roles]]\nname = \"cashier\"\nmax_amount = 5000\n"
        ),
    )
}

fn token(sub: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({
        "iss": "https://auth.example.com",
        "aud": "refundkit-relay",
        "sub": sub,
        "roles": ["cashier"],
        "exp": now + 600,
    });
    let key = EncodingKey::from_secret(JWT_SECRET.as_bytes()).expect("key");
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).expect("sign")
}

async fn spawn_relay(emulator: &TestEmulator, auth: &str, journal: &str) -> Announced {
    spawn_relay_with(emulator, auth, journal, &[]).await
}

async fn spawn_relay_with(
    emulator: &TestEmulator,
    auth: &str,
    journal: &str,
    more: &[&str],
) -> Announced {
    let args = [
        &[
            "relay",
            "--upstream",
            emulator.base_url.as_str(),
            "--auth",
            auth,
            "--journal",
            journal,
        ][..],
        more,
    ]
    .concat();
    let env = [
        ("REFUNDKIT_SECRET_KEY", emulator.secret_key.as_str()),
        (JWT_ENV, JWT_SECRET),
    ];
    spawn_announcing(&args, &env).await
}

/// One refund through the relay: `Ok((status, body))`, or `Err` when the
/// connection failed (the relay is down).
async fn refund(
    http: &reqwest::Client,
    relay: &str,
    token: &str,
    checkout: &str,
    key: &str,
) -> Result<(u16, Value), reqwest::Error> {
    let resp = http
        .post(format!("{relay}/api/checkouts/{checkout}/refund"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .body(r#"{"amount":500}"#)
        .send()
        .await?;
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

async fn wait_for_refund_requests(emulator: &TestEmulator, at_least: u64) {
    for _ in 0..500 {
        if emulator.refund_requests().await >= at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no refund request reached the emulator");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_run_and_restarted_refunds_each_key_once() {
    let emulator = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = auth_file(dir.path());
    let journal = dir.path().join("relay.db").to_string_lossy().into_owned();
    let mut checkouts = Vec::new();
    for _ in 0..6 {
        checkouts.push(emulator.paid_checkout(1000).await);
    }
    // Half the refunds are held 1.5 s before the emulator makes them.
    emulator
        .control
        .set_faults(&Faults {
            delay: 0.5,
            delay_ms: 1500,
            seed: Some(3),
            ..Faults::default()
        })
        .await
        .expect("faults");
    let token = token("alice");
    let http = reqwest::Client::new();
    let mut relay = spawn_relay(&emulator, &auth, &journal).await;

    // The app sends every refund at once; the relay dies once some are made
    // and the others are still in flight.
    let sends: Vec<_> = checkouts
        .iter()
        .enumerate()
        .map(|(i, checkout)| {
            let (http, url, token) = (http.clone(), relay.url.clone(), token.clone());
            let checkout = checkout.clone();
            tokio::spawn(async move {
                refund(&http, &url, &token, &checkout, &format!("order-{i}")).await
            })
        })
        .collect();
    wait_for_refund_requests(&emulator, checkouts.len() as u64).await;
    for _ in 0..500 {
        if !emulator.ledger().await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    relay.child.kill().expect("SIGKILL");
    relay.child.wait().expect("reap");
    let mut first_answers = Vec::new();
    for send in sends {
        first_answers.push(send.await.expect("join").ok());
    }
    assert!(
        first_answers.iter().any(Option::is_none),
        "some requests were cut by the kill"
    );
    emulator
        .control
        .set_faults(&Faults::default())
        .await
        .expect("clear faults");

    // Restarted on the same journal; the app retries each key until it is answered.
    let mut restarted = spawn_relay(&emulator, &auth, &journal).await;
    for (i, checkout) in checkouts.iter().enumerate() {
        let key = format!("order-{i}");
        let (status, body) = refund(&http, &restarted.url, &token, checkout, &key)
            .await
            .expect("the restarted relay answers");
        assert_eq!(status, 202, "{key}: {body}");
        let ledger = emulator
            .control
            .ledger(Some(checkout))
            .await
            .expect("ledger");
        assert_eq!(ledger.len(), 1, "{key}: {ledger:?}");
        assert_eq!(ledger[0]["refundId"], body["refundId"]);
        if let Some((202, first)) = &first_answers[i] {
            assert_eq!(first["refundId"], body["refundId"], "{key} replayed");
        }
    }
    emulator.assert_each_refunded_once(&checkouts).await;

    let conn = rusqlite::Connection::open(&journal).expect("journal");
    let unfinished: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM decisions WHERE outcome = 'forwarding'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert!(
        unfinished >= 1,
        "the killed relay left rows it never finished"
    );
    restarted.child.kill().expect("stop");
    restarted.child.wait().expect("reap");
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_refund_in_flight_and_exits_0() {
    let emulator = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = auth_file(dir.path());
    let journal = dir.path().join("relay.db").to_string_lossy().into_owned();
    let checkout = emulator.paid_checkout(1000).await;
    emulator
        .control
        .set_faults(&Faults {
            delay: 1.0,
            delay_ms: 800,
            ..Faults::default()
        })
        .await
        .expect("faults");
    let mut relay = spawn_relay(&emulator, &auth, &journal).await;
    let send = {
        let (url, token, checkout) = (relay.url.clone(), token("bob"), checkout.clone());
        tokio::spawn(async move {
            refund(&reqwest::Client::new(), &url, &token, &checkout, "term-1").await
        })
    };
    wait_for_refund_requests(&emulator, 1).await;
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &relay.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let (status, body) = send.await.expect("join").expect("answered");
    assert_eq!(status, 202, "{body}");
    let exit = tokio::task::spawn_blocking(move || relay.child.wait().expect("wait"))
        .await
        .expect("join");
    assert_eq!(exit.code(), Some(0));
    assert_eq!(emulator.ledger().await.len(), 1);
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_on_several_threads_refunds_each_key_once_and_journals_every_answer() {
    let emulator = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = auth_file(dir.path());
    let journal = dir.path().join("relay.db");
    let journal_text = journal.to_string_lossy().into_owned();
    let checkout = emulator.paid_checkout(100_000).await;
    let mut relay = spawn_relay_with(&emulator, &auth, &journal_text, &["--threads", "4"]).await;
    let http = reqwest::Client::new();
    let token = token("carol");
    // 20 keys, each sent twice at once: 40 requests in flight.
    let calls = (0..40).map(|i| {
        let (http, url, token, checkout) = (&http, &relay.url, &token, &checkout);
        async move { refund(http, url, token, checkout, &format!("threads-{}", i % 20)).await }
    });
    for answer in futures::future::join_all(calls).await {
        let (status, body) = answer.expect("answered");
        assert_eq!(status, 202, "{body}");
    }
    assert_eq!(emulator.ledger().await.len(), 20, "one refund per key");
    let conn = rusqlite::Connection::open(&journal).expect("open journal");
    // Each outcome is journaled just after its answer (ADR 0027).
    for _ in 0..500 {
        let forwarding: i64 = conn
            .query_row(
                "SELECT count(*) FROM decisions WHERE outcome = 'forwarding'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        if forwarding == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let succeeded: i64 = conn
        .query_row(
            "SELECT count(*) FROM decisions WHERE outcome = 'succeeded'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(succeeded, 40, "every answered request has its row");
    relay.child.kill().expect("stop");
    relay.child.wait().expect("reap");
    emulator.stop().await;
}

#[tokio::test]
async fn configuration_mistakes_are_usage_errors_naming_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = auth_file(dir.path());
    let journal = dir.path().join("relay.db").to_string_lossy().into_owned();
    let base = ["relay", "--upstream", "http://127.0.0.1:9", "--auth"];

    let no_key = run_cli(
        &[&base[..], &[auth.as_str(), "--journal", &journal]].concat(),
        &[(JWT_ENV, JWT_SECRET)],
        &[],
    )
    .await;
    assert_eq!(no_key.code, Some(2), "{no_key:?}");
    assert!(no_key.stderr.contains("REFUNDKIT_SECRET_KEY"), "{no_key:?}");

    let secret = "sk_live_clitests0123456789abcdef";
    let no_jwt_secret = run_cli(
        &[&base[..], &[auth.as_str(), "--journal", &journal]].concat(),
        &[("REFUNDKIT_SECRET_KEY", secret)],
        &[secret],
    )
    .await;
    assert_eq!(no_jwt_secret.code, Some(2), "{no_jwt_secret:?}");
    assert!(no_jwt_secret.stderr.contains(JWT_ENV), "{no_jwt_secret:?}");

    let bad = write_file(dir.path(), "bad.toml", "[jwt]\nissuer = \"x\"\n");
    let bad_auth = run_cli(
        &[&base[..], &[bad.as_str(), "--journal", &journal]].concat(),
        &[("REFUNDKIT_SECRET_KEY", secret), (JWT_ENV, JWT_SECRET)],
        &[secret, JWT_SECRET],
    )
    .await;
    assert_eq!(bad_auth.code, Some(2), "{bad_auth:?}");
    assert!(bad_auth.stderr.contains("audience"), "{bad_auth:?}");

    let no_threads = run_cli(
        &[
            &base[..],
            &[auth.as_str(), "--journal", &journal, "--threads", "0"],
        ]
        .concat(),
        &[("REFUNDKIT_SECRET_KEY", secret), (JWT_ENV, JWT_SECRET)],
        &[secret, JWT_SECRET],
    )
    .await;
    assert_eq!(no_threads.code, Some(2), "{no_threads:?}");
    assert!(no_threads.stderr.contains("--threads"), "{no_threads:?}");
}

#[tokio::test]
async fn a_postgres_journal_that_cannot_be_used_stops_the_relay_before_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = auth_file(dir.path());
    let secret = "sk_live_clitests0123456789abcdef";
    let env = [("REFUNDKIT_SECRET_KEY", secret), (JWT_ENV, JWT_SECRET)];
    let relay_with = |journal: &'static str| {
        let auth = auth.clone();
        async move {
            run_cli(
                &[
                    "relay",
                    "--upstream",
                    "http://127.0.0.1:9",
                    "--auth",
                    &auth,
                    "--journal",
                    journal,
                ],
                &env,
                &[secret, JWT_SECRET, "pg-pass-0123"],
            )
            .await
        }
    };

    let malformed = relay_with("postgres://relay:pg-pass-0123@127.0.0.1:notaport/db").await;
    assert_eq!(malformed.code, Some(2), "{malformed:?}");
    assert!(
        malformed.stderr.contains("invalid PostgreSQL URL"),
        "{malformed:?}"
    );
    assert!(malformed.stdout.is_empty(), "{malformed:?}");

    // Nothing listens on port 1: the connection is refused at start.
    let unreachable = relay_with("postgres://relay:pg-pass-0123@127.0.0.1:1/db").await;
    assert_eq!(unreachable.code, Some(1), "{unreachable:?}");
    assert!(
        unreachable
            .stderr
            .contains("cannot connect to the PostgreSQL journal postgres://relay@127.0.0.1:1/db"),
        "{unreachable:?}"
    );
    assert!(unreachable.stdout.is_empty(), "{unreachable:?}");
}
