//! Shared fixtures of the relay's end-to-end tests: a real emulator, a real
//! relay in front of it over loopback HTTP, and real JWTs signed here.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use refundkit_emulator::{ControlClient, Emulator, EmulatorConfig};
use refundkit_relay::{AuthFile, Relay, RelayConfig, SqliteStore};
use serde_json::{json, Value};

/// The secret key the relay holds.
pub const SECRET_KEY: &str = "sk_live_relaytests0123456789abcdef";
/// The HS256 secret tokens are signed with.
pub const HS256_SECRET: &str = "relay-tests-hs256-secret-0123456789abcdef";
/// The env var the auth file names.
pub const HS256_ENV: &str = "RELAY_TEST_JWT_SECRET";
/// `iss` and `aud` the relay accepts.
pub const ISSUER: &str = "https://auth.example.com";
pub const AUDIENCE: &str = "refundkit-relay";

/// The roles every test relay has.
pub const ROLES: &str = r#"
[[roles]]
name = "cashier"
max_amount = 5000
allow_full = false
daily_limit = 15000
rate_per_minute = 1000

[[roles]]
name = "manager"
allow_full = true

[[roles]]
name = "slow"
rate_per_minute = 3

[[roles]]
name = "burst"
rate_per_minute = 60
"#;

/// A path under the crate's test keys.
pub fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name)
}

/// The auth file of the test relays (HS256 and the JWKS file).
pub fn auth_toml() -> String {
    format!(
        "[jwt]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\nhs256_secret_env = \"{HS256_ENV}\"\n\
         jwks_file = \"{}\"\nleeway_seconds = 5\n{ROLES}",
        key_file("jwks.json").display()
    )
}

/// An emulator, a relay in front of it, and the relay's journal.
pub struct Setup {
    pub emulator: Emulator,
    pub relay: Relay,
    pub control: ControlClient,
    pub journal: PathBuf,
    pub _dir: tempfile::TempDir,
}

impl Setup {
    /// Starts both on loopback.
    pub async fn start() -> Self {
        let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("relay.db");
        let relay = start_relay(&emulator.base_url(), &journal).await;
        let control = ControlClient::new(&emulator.base_url(), SECRET_KEY);
        Self {
            emulator,
            relay,
            control,
            journal,
            _dir: dir,
        }
    }

    /// A paid live checkout of `amount` cents.
    pub async fn paid_checkout(&self, amount: i64) -> String {
        let checkout = self.control.create_checkout(amount, None).await.unwrap();
        let id = checkout["id"].as_str().unwrap().to_owned();
        self.control.pay(&id).await.unwrap();
        id
    }

    /// `POST {relay}/api/checkouts/{id}/refund`.
    pub async fn refund(
        &self,
        token: Option<&str>,
        id: &str,
        body: &str,
        key: Option<&str>,
    ) -> Answer {
        refund_at(&self.relay.base_url(), token, id, body, key).await
    }

    /// Faults on 55% of refund requests, seeded: 15% cut before the
    /// emulator handles them, 25% cut after it committed, 15% answered 500.
    pub async fn inject_connection_faults(&self, seed: u64) {
        let faults = refundkit_emulator::Faults {
            drop_before: 0.15,
            drop_after: 0.25,
            error_5xx: 0.15,
            seed: Some(seed),
            ..Default::default()
        };
        self.control.set_faults(&faults).await.unwrap();
    }

    /// Refund requests that reached the emulator.
    pub async fn upstream_refund_requests(&self) -> u64 {
        self.control.stats().await.unwrap()["refundRequests"]
            .as_u64()
            .unwrap()
    }

    /// Every refund the emulator made.
    pub async fn ledger(&self) -> Vec<Value> {
        self.control.ledger(None).await.unwrap()
    }

    /// The journal's rows as JSON objects, oldest first.
    pub async fn journal_rows(&self) -> Vec<Value> {
        journal_rows(&self.journal).await
    }
}

/// Starts a relay for `upstream` journaling to `journal`.
pub async fn start_relay(upstream: &str, journal: &std::path::Path) -> Relay {
    Relay::start(relay_config(upstream, journal)).await.unwrap()
}

/// The configuration of the test relays.
pub fn relay_config(upstream: &str, journal: &std::path::Path) -> RelayConfig {
    let auth = AuthFile::parse(&auth_toml()).unwrap();
    let store = Arc::new(SqliteStore::open(journal).unwrap());
    RelayConfig::new(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        upstream,
        SECRET_KEY,
        auth,
        |name| (name == HS256_ENV).then(|| HS256_SECRET.to_owned()),
        store,
    )
    .unwrap()
}

/// One HTTP answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Posts a refund to `base`.
pub async fn refund_at(
    base: &str,
    token: Option<&str>,
    id: &str,
    body: &str,
    key: Option<&str>,
) -> Answer {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/api/checkouts/{id}/refund"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Valid claims for `sub` acting as `role`.
pub fn claims(sub: &str, role: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "roles": [role],
        "iat": now(),
        "exp": now() + 600,
    })
}

/// `claims` signed with the HS256 secret.
pub fn hs256(claims: &Value) -> String {
    let key = EncodingKey::from_secret(HS256_SECRET.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
}

/// `claims` signed with a JWKS key pair: `"rsa-1"`, `"ec-1"` or `"ed-1"`.
pub fn signed_with(kid: &str, claims: &Value) -> String {
    let (alg, key) = match kid {
        "rsa-1" => (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(&std::fs::read(key_file("rsa-private.pem")).unwrap())
                .unwrap(),
        ),
        "ec-1" => (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(&std::fs::read(key_file("ec-private.pem")).unwrap()).unwrap(),
        ),
        "ed-1" => (
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(&std::fs::read(key_file("ed25519-private.pem")).unwrap())
                .unwrap(),
        ),
        other => panic!("no key {other}"),
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// The journal at `path` as JSON objects, oldest first.
/// A forwarded refund's outcome is journaled just after its answer (ADR
/// 0027): this waits (up to 5 s) until no row is still `forwarding`.
pub async fn journal_rows(path: &std::path::Path) -> Vec<Value> {
    for _ in 0..500 {
        let rows = read_journal_rows(path);
        if rows.iter().all(|row| row["outcome"] != "forwarding") {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    read_journal_rows(path)
}

fn read_journal_rows(path: &std::path::Path) -> Vec<Value> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT subject, role, checkout_id, amount, app_key, upstream_key, outcome, reason,
                    http_status, request_id, refund_id, at FROM decisions ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(json!({
            "subject": r.get::<_, Option<String>>(0)?,
            "role": r.get::<_, Option<String>>(1)?,
            "checkout_id": r.get::<_, Option<String>>(2)?,
            "amount": r.get::<_, Option<i64>>(3)?,
            "app_key": r.get::<_, Option<String>>(4)?,
            "upstream_key": r.get::<_, Option<String>>(5)?,
            "outcome": r.get::<_, String>(6)?,
            "reason": r.get::<_, Option<String>>(7)?,
            "http_status": r.get::<_, Option<i64>>(8)?,
            "request_id": r.get::<_, Option<String>>(9)?,
            "refund_id": r.get::<_, Option<String>>(10)?,
            "at": r.get::<_, String>(11)?,
        }))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}
