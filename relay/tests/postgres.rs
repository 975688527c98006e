//! The relay's PostgreSQL journal (`--journal postgres://…`) on a real
//! server (started by `scripts/test-postgres`, which sets
//! `REFUNDKIT_TEST_POSTGRES_URL`): two relay instances on one database
//! share the daily limit and the audit trail, start-up fails clearly on a
//! bad URL or password, and no secret or token reaches the database.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use common::*;
use refundkit_emulator::{ControlClient, Emulator, EmulatorConfig};
use refundkit_relay::{AuthFile, PgStore, Relay, RelayConfig};

/// The test server's URL, or `None` with a loud note when it is not set
/// (in CI a missing server is a failure, never a silent skip).
fn server_url() -> Option<String> {
    match std::env::var("REFUNDKIT_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") => panic!(
            "REFUNDKIT_TEST_POSTGRES_URL is not set: run the tests through \
             scripts/test-postgres (scripts/test does)"
        ),
        _ => {
            // Straight to the stderr handle: the test harness captures
            // `eprintln!`, and this note must show in a passing run.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: REFUNDKIT_TEST_POSTGRES_URL is not set; run \
                 `scripts/test-postgres cargo test -p refundkit-relay --test postgres`"
            );
            None
        }
    }
}

/// A client of the database at `url`.
async fn db(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// A fresh, empty database on the test server; returns its URL.
async fn fresh_database(server: &str, label: &str) -> String {
    let client = db(server).await;
    let tag: u32 = std::process::id() ^ (now() as u32).rotate_left(7) ^ rand_tag();
    let name = format!("rk_relay_{label}_{tag:08x}");
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

fn rand_tag() -> u32 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish() as u32
}

/// A relay for `upstream` journaling to the database at `url`.
async fn pg_relay(upstream: &str, url: &str) -> (Relay, String) {
    let store = PgStore::open(url).await.unwrap();
    let instance = store.instance().to_owned();
    let config = RelayConfig::new(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        upstream,
        SECRET_KEY,
        AuthFile::parse(&auth_toml()).unwrap(),
        |name| (name == HS256_ENV).then(|| HS256_SECRET.to_owned()),
        Arc::new(store),
    )
    .unwrap();
    (Relay::start(config).await.unwrap(), instance)
}

/// A paid live checkout of `amount` cents.
async fn paid(control: &ControlClient, amount: i64) -> String {
    let checkout = control.create_checkout(amount, None).await.unwrap();
    let id = checkout["id"].as_str().unwrap().to_owned();
    control.pay(&id).await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_on_one_database_share_the_daily_limit_and_the_audit_trail() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "shared").await;
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let control = ControlClient::new(&emulator.base_url(), SECRET_KEY);
    let (first, first_name) = pg_relay(&emulator.base_url(), &url).await;
    let (second, second_name) = pg_relay(&emulator.base_url(), &url).await;
    assert_ne!(first_name, second_name);

    let mut checkouts = Vec::new();
    for _ in 0..40 {
        checkouts.push(paid(&control, 1000).await);
    }
    // One subject, 40 refunds of 1000 cents at once, alternating between
    // the two relays, against the cashier's daily_limit of 15000.
    let token = hs256(&claims("alice", "cashier"));
    let bases = [first.base_url(), second.base_url()];
    let tasks: Vec<_> = checkouts
        .iter()
        .enumerate()
        .map(|(i, checkout)| {
            let base = bases[i % 2].clone();
            let (token, checkout) = (token.clone(), checkout.clone());
            tokio::spawn(async move {
                let key = format!("shared-{i}");
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
    let (mut accepted, mut refused) = (0, 0);
    for task in tasks {
        let answer = task.await.unwrap();
        match answer.status {
            202 => accepted += 1,
            403 => {
                let message = answer.body["description"].as_str().unwrap();
                assert!(message.contains("daily_limit"), "{message}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {answer:?}"),
        }
    }
    assert_eq!((accepted, refused), (15, 25));
    let ledger = control.ledger(None).await.unwrap();
    let total: i64 = ledger.iter().map(|r| r["amount"].as_i64().unwrap()).sum();
    assert_eq!(ledger.len(), 15);
    assert_eq!(
        total, 15_000,
        "the emulator refunded no more than the limit"
    );

    // The audit trail holds every decision, from both instances (each
    // outcome is journaled just after its answer: ADR 0027).
    let client = db(&url).await;
    for _ in 0..500 {
        let forwarding: i64 = client
            .query_one(
                "SELECT count(*) FROM refundkit_relay_decisions WHERE outcome = 'forwarding'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if forwarding == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let rows = client
        .query(
            "SELECT relay, outcome, http_status FROM refundkit_relay_decisions ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 40);
    let count = |relay: &str, outcome: &str, status: i32| {
        rows.iter()
            .filter(|r| {
                r.get::<_, String>(0) == relay
                    && r.get::<_, String>(1) == outcome
                    && r.get::<_, Option<i32>>(2) == Some(status)
            })
            .count()
    };
    for name in [&first_name, &second_name] {
        let decided = rows
            .iter()
            .filter(|r| r.get::<_, String>(0) == *name)
            .count();
        assert_eq!(decided, 20, "{name} journaled each of its requests");
    }
    let succeeded = count(&first_name, "succeeded", 202) + count(&second_name, "succeeded", 202);
    let forbidden = count(&first_name, "forbidden", 403) + count(&second_name, "forbidden", 403);
    assert_eq!((succeeded, forbidden), (15, 25));
    let used: i64 = client
        .query_one(
            "SELECT cents FROM refundkit_relay_daily_usage WHERE subject = 'alice'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(used, 15_000);

    // A retry of an accepted key through the other relay replays: it counts
    // nothing twice and refunds nothing twice.
    let accepted_key = client
        .query_one(
            "SELECT app_key, checkout_id, relay FROM refundkit_relay_decisions
             WHERE outcome = 'succeeded' ORDER BY id LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    let (key, checkout, by): (String, String, String) = (
        accepted_key.get(0),
        accepted_key.get(1),
        accepted_key.get(2),
    );
    let other = if by == first_name {
        &bases[1]
    } else {
        &bases[0]
    };
    let again = refund_at(
        other,
        Some(&token),
        &checkout,
        r#"{"amount":1000}"#,
        Some(&key),
    )
    .await;
    assert_eq!(again.status, 202, "{again:?}");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(control.ledger(None).await.unwrap().len(), 15);

    first.shutdown().await;
    second.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_released_reservation_is_given_back_across_instances() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "release").await;
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let control = ControlClient::new(&emulator.base_url(), SECRET_KEY);
    let (first, _) = pg_relay(&emulator.base_url(), &url).await;
    let (second, _) = pg_relay(&emulator.base_url(), &url).await;
    let token = hs256(&claims("bob", "cashier"));
    // 5000 on a checkout of 1000: the service refuses (400) and the cents
    // come back, so the next 5000 elsewhere still fits the day's 15000.
    let small = paid(&control, 1000).await;
    for i in 0..3 {
        let refused = refund_at(
            &first.base_url(),
            Some(&token),
            &small,
            r#"{"amount":5000}"#,
            Some(&format!("too-much-{i}")),
        )
        .await;
        assert_eq!(refused.status, 400, "{refused:?}");
    }
    let big = paid(&control, 20_000).await;
    for i in 0..3 {
        let ok = refund_at(
            &second.base_url(),
            Some(&token),
            &big,
            r#"{"amount":5000}"#,
            Some(&format!("fits-{i}")),
        )
        .await;
        assert_eq!(ok.status, 202, "{ok:?}");
    }
    let over = refund_at(
        &first.base_url(),
        Some(&token),
        &big,
        r#"{"amount":1}"#,
        Some("over"),
    )
    .await;
    assert_eq!(over.status, 403, "{over:?}");
    first.shutdown().await;
    second.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_bad_url_or_password_fails_at_start_without_showing_it() {
    let Some(server) = server_url() else { return };
    let bad = PgStore::open("postgres://refundkit:pw@127.0.0.1:notaport/x")
        .await
        .unwrap_err();
    assert!(bad.0.contains("invalid PostgreSQL URL"), "{bad}");

    // The server's URL with another password.
    let (scheme_user, rest) = server.split_once("://").unwrap().1.split_once('@').unwrap();
    let user = scheme_user.split(':').next().unwrap();
    let wrong = format!("postgres://{user}:wrong-password-123@{rest}");
    let refused = PgStore::open(&wrong).await.unwrap_err();
    assert!(
        refused
            .0
            .contains("cannot connect to the PostgreSQL journal")
            && refused.0.contains("password authentication failed"),
        "{refused}"
    );
    assert!(!refused.0.contains("wrong-password-123"), "{refused}");
    let real_password = scheme_user.split(':').nth(1).unwrap();
    assert!(!refused.0.contains(real_password), "{refused}");
}

#[tokio::test]
async fn the_database_never_holds_the_secret_key_or_a_token() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "secrets").await;
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let control = ControlClient::new(&emulator.base_url(), SECRET_KEY);
    let (relay, _) = pg_relay(&emulator.base_url(), &url).await;
    let checkout = paid(&control, 10_000).await;
    let base = relay.base_url();
    let cashier = hs256(&claims("alice", "cashier"));
    let manager = hs256(&claims("mgr", "manager"));
    let expired = hs256(&serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "late", "roles": ["manager"],
        "exp": now() - 3600,
    }));
    let tokens = [cashier.as_str(), manager.as_str(), expired.as_str()];
    for (token, body) in [
        (cashier.as_str(), r#"{"amount":100}"#),
        (cashier.as_str(), r#"{"amount":99999}"#),
        (manager.as_str(), "{}"),
        (expired.as_str(), r#"{"amount":1}"#),
        (SECRET_KEY, r#"{"amount":1}"#),
    ] {
        refund_at(&base, Some(token), &checkout, body, Some("secret-scan")).await;
    }
    let client = db(&url).await;
    let columns = client
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = 'public' AND data_type IN ('text', 'character varying')",
            &[],
        )
        .await
        .unwrap();
    assert!(columns.len() >= 10, "{} text columns", columns.len());
    let mut scanned = 0;
    for column in &columns {
        let (table, name): (String, String) = (column.get(0), column.get(1));
        let values = client
            .query(&format!("SELECT {name} FROM {table}"), &[])
            .await
            .unwrap();
        for value in values {
            let Some(text) = value.get::<_, Option<String>>(0) else {
                continue;
            };
            scanned += 1;
            assert!(!text.contains("sk_live_"), "{table}.{name}: {text}");
            assert!(!text.contains(HS256_SECRET), "{table}.{name}");
            for token in tokens {
                // A JWT's signature part is unique to it.
                let signature = token.rsplit('.').next().unwrap();
                assert!(!text.contains(signature), "{table}.{name} holds a token");
            }
        }
    }
    assert!(scanned > 20, "only {scanned} values scanned");
    relay.shutdown().await;
    emulator.shutdown().await;
}
