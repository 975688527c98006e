//! Token verification end to end: every hostile token gets 401
//! `invalid_token` and reaches no upstream; tokens signed with each
//! accepted algorithm get through.
#![allow(clippy::unwrap_used)]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

fn with(mut claims: Value, field: &str, value: Value) -> Value {
    claims[field] = value;
    claims
}

/// (what, expected reason, token).
fn hostile_tokens() -> Vec<(&'static str, &'static str, String)> {
    let good = claims("alice", "cashier");
    let valid = hs256(&good);
    let parts: Vec<&str> = valid.split('.').collect();
    let tampered_payload = URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&with(good.clone(), "roles", json!(["manager"]))).unwrap());
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let mut confused = Header::new(Algorithm::HS256);
    confused.kid = Some("rsa-1".to_owned());
    let rsa_public = std::fs::read(key_file("rsa-public.pem")).unwrap();
    let confusion = jsonwebtoken::encode(
        &confused,
        &good,
        &EncodingKey::from_secret(&rsa_public).unwrap(),
    )
    .unwrap();
    let rs256_under_ec_kid = {
        let token = signed_with("rsa-1", &good);
        let mut header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        header["kid"] = json!("ec-1");
        let rest: Vec<&str> = token.splitn(2, '.').collect();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), rest[1])
    };
    let oversized = format!("{}.{}.{}", parts[0], "A".repeat(64 * 1024), parts[2]);
    vec![
        (
            "expired",
            "token expired",
            hs256(&with(good.clone(), "exp", json!(now() - 3600))),
        ),
        (
            "not yet valid",
            "token not yet valid",
            hs256(&with(good.clone(), "nbf", json!(now() + 3600))),
        ),
        (
            "wrong issuer",
            "wrong issuer",
            hs256(&with(good.clone(), "iss", json!("https://evil.example"))),
        ),
        (
            "wrong audience",
            "wrong audience",
            hs256(&with(good.clone(), "aud", json!("another-service"))),
        ),
        ("no exp", "token lacks exp", {
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove("exp");
            hs256(&c)
        }),
        (
            "tampered payload",
            "bad signature",
            format!("{}.{tampered_payload}.{}", parts[0], parts[2]),
        ),
        (
            "alg none",
            "malformed token",
            format!("{none_header}.{}.", parts[1]),
        ),
        (
            "HS256 signed with the RSA public key",
            "bad signature",
            confusion,
        ),
        (
            "RS256 under the EC key's kid",
            "algorithm is not its key's",
            rs256_under_ec_kid,
        ),
        ("unknown kid", "no key matches", {
            let token = signed_with("rsa-1", &good);
            let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"nobody","typ":"JWT"}"#);
            format!("{header}.{}", token.split_once('.').unwrap().1)
        }),
        (
            "secret key as token",
            "a secret key is not a token",
            SECRET_KEY.to_owned(),
        ),
        ("64 KB token", "token too large", oversized),
        ("garbage", "malformed token", "not-a-jwt".to_owned()),
    ]
}

#[tokio::test]
async fn hostile_tokens_get_401_and_reach_no_upstream() {
    let setup = Setup::start().await;
    let checkout = setup.paid_checkout(5000).await;
    let tokens = hostile_tokens();
    for (what, reason, token) in &tokens {
        let answer = setup
            .refund(
                Some(token),
                &checkout,
                r#"{"amount":100}"#,
                Some("k-hostile"),
            )
            .await;
        assert_eq!(answer.status, 401, "{what}: {answer:?}");
        let message = answer.body["errorMessage"].as_str().unwrap();
        assert!(message.contains(reason), "{what}: {message}");
        assert_eq!(answer.body["errorCode"], "invalid_token", "{what}");
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\""),
            "{what}"
        );
        for field in ["errorMessage", "displayMessage", "description"] {
            let text = answer.body[field].as_str().unwrap();
            assert!(text.starts_with("invalid token: "), "{what}: {text}");
            assert!(
                !text.contains(token.as_str()),
                "{what}: the token is echoed"
            );
        }
    }
    let missing = setup.refund(None, &checkout, "{}", None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        setup.upstream_refund_requests().await,
        0,
        "nothing was forwarded"
    );
    assert!(setup.ledger().await.is_empty());

    let rows = setup.journal_rows().await;
    assert_eq!(rows.len(), tokens.len() + 1, "one journal row per decision");
    assert!(rows
        .iter()
        .all(|r| r["outcome"] == "invalid_token" && r["subject"].is_null()));
    let journal = std::fs::read(&setup.journal).unwrap();
    let wal = std::fs::read(setup.journal.with_extension("db-wal")).unwrap_or_default();
    for (what, _, token) in &tokens {
        let needle = token.split('.').next_back().unwrap_or(token).as_bytes();
        if needle.len() >= 16 {
            for bytes in [&journal, &wal] {
                assert!(
                    !contains(bytes, needle),
                    "{what}: token bytes in the journal"
                );
            }
        }
    }
}

#[tokio::test]
async fn tokens_signed_with_each_accepted_algorithm_are_forwarded() {
    let setup = Setup::start().await;
    let cases = [
        ("HS256", hs256(&claims("alice", "cashier"))),
        ("RS256", signed_with("rsa-1", &claims("alice", "cashier"))),
        ("ES256", signed_with("ec-1", &claims("alice", "cashier"))),
        ("EdDSA", signed_with("ed-1", &claims("alice", "cashier"))),
    ];
    for (alg, token) in &cases {
        let checkout = setup.paid_checkout(1000).await;
        let answer = setup
            .refund(Some(token), &checkout, r#"{"amount":1000}"#, Some(alg))
            .await;
        assert_eq!(answer.status, 202, "{alg}: {answer:?}");
        assert_eq!(answer.body["id"], checkout.as_str());
    }
    assert_eq!(setup.ledger().await.len(), cases.len());
}

#[tokio::test]
async fn a_role_string_claim_and_clock_leeway_are_accepted() {
    let setup = Setup::start().await;
    let checkout = setup.paid_checkout(1000).await;
    let mut c = claims("bob", "ignored");
    c.as_object_mut().unwrap().remove("roles");
    c["role"] = json!("manager");
    // Expired 2 s ago, within the auth file's 5 s leeway.
    c["exp"] = json!(now() - 2);
    let answer = setup
        .refund(Some(&hs256(&c)), &checkout, "", Some("k1"))
        .await;
    assert_eq!(answer.status, 202, "{answer:?}");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
