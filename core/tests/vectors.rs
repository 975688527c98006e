//! The shared vectors in `tests/vectors/`, run against the Rust core.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use refundkit::protocol::{parse_refund_response, ResponseMeta};
use refundkit::{Client, RefundRequest, WebhookVerifier};
use serde_json::Value;
use support::ScriptedServer;

fn document(name: &str) -> Value {
    let path = format!("{}/../tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect(&path);
    serde_json::from_str(&text).expect("vector JSON")
}

fn load(name: &str) -> Vec<Value> {
    document(name)["cases"].as_array().expect("cases").clone()
}

fn s(v: &Value) -> Option<&str> {
    v.as_str()
}

#[test]
fn webhook_vectors() {
    for case in load("webhooks.json") {
        let name = case["name"].as_str().expect("name");
        let secrets: Vec<&str> = match case.get("secrets").and_then(Value::as_array) {
            Some(list) => list.iter().filter_map(Value::as_str).collect(),
            None => vec![case["secret"].as_str().expect("secret")],
        };
        let mut verifier = WebhookVerifier::with_secrets(secrets).expect("secrets");
        if let Some(tolerance) = case.get("tolerance").and_then(Value::as_u64) {
            verifier = verifier.tolerance(Duration::from_secs(tolerance));
        }
        let headers: Vec<(&str, &str)> = case["headers"]
            .as_object()
            .expect("headers")
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().expect("header value")))
            .collect();
        let body = case["body"].as_str().expect("body").as_bytes();
        let now = case["now"].as_i64().expect("now");
        let expect = &case["expect"];
        let got = verifier.verify_at(headers, body, now);
        if expect["ok"].as_bool() == Some(true) {
            let event = got.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(Some(event.id.as_str()), s(&expect["id"]), "{name}");
            assert_eq!(
                Some(event.event_type.as_str()),
                s(&expect["type"]),
                "{name}"
            );
            assert_eq!(
                event.created_date.as_deref(),
                s(&expect["created_date"]),
                "{name}"
            );
            let refund = event.refund();
            assert_eq!(
                refund.and_then(|r| r.refund_id.as_deref()),
                s(&expect["refund_id"]),
                "{name}"
            );
            assert_eq!(event.checkout_id(), s(&expect["checkout_id"]), "{name}");
            assert_eq!(event.amount(), expect["amount"].as_i64(), "{name}");
            assert_eq!(event.status(), s(&expect["status"]), "{name}");
            assert_eq!(
                refund.and_then(|r| r.failure_reason.as_deref()),
                s(&expect["failure_reason"]),
                "{name}"
            );
        } else {
            let err = got.expect_err(name);
            assert_eq!(
                err.kind(),
                refundkit::ErrorKind::WebhookVerification,
                "{name}"
            );
            let needle = expect["error_contains"].as_str().expect("error_contains");
            assert!(err.message().contains(needle), "{name}: {err}");
        }
    }
}

#[test]
fn error_vectors_through_the_protocol_layer() {
    let errors = document("errors.json");
    let checkout_id = errors["checkout_id"].as_str().expect("checkout_id");
    for case in errors["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let mut headers = http::HeaderMap::new();
        for (k, v) in case["headers"].as_object().expect("headers") {
            headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.as_str().expect("value").parse().expect("value"),
            );
        }
        let meta = ResponseMeta::from_headers(&headers, SystemTime::now());
        let status = case["status"].as_u64().expect("status") as u16;
        let body = case["body"].as_str().expect("body").as_bytes();
        let got = parse_refund_response(status, &meta, body, checkout_id, "vector-key");
        let expect = &case["expect"];
        if expect["ok"].as_bool() == Some(true) {
            let refund = got.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                Some(refund.checkout_id.as_str()),
                s(&expect["checkout_id"]),
                "{name}"
            );
            assert_eq!(
                Some(refund.refund_id.as_str()),
                s(&expect["refund_id"]),
                "{name}"
            );
            assert_eq!(Some(refund.status.as_str()), s(&expect["status"]), "{name}");
            assert_eq!(refund.message.as_deref(), s(&expect["message"]), "{name}");
            assert_eq!(
                Some(refund.replayed),
                expect["replayed"].as_bool(),
                "{name}"
            );
            assert_eq!(
                refund.request_id.as_deref(),
                s(&expect["request_id"]),
                "{name}"
            );
            assert_eq!(refund.idempotency_key, "vector-key");
        } else {
            let err = got.expect_err(name);
            assert_eq!(Some(err.kind().as_str()), s(&expect["kind"]), "{name}");
            assert_eq!(Some(err.message()), s(&expect["message"]), "{name}");
            assert_eq!(
                Some(err.is_retryable()),
                expect["retryable"].as_bool(),
                "{name}"
            );
            assert_eq!(
                Some(err.is_outcome_unknown()),
                expect["outcome_unknown"].as_bool(),
                "{name}"
            );
            assert_eq!(err.error_code(), s(&expect["error_code"]), "{name}");
            assert_eq!(err.request_id(), s(&expect["request_id"]), "{name}");
            assert_eq!(err.status(), Some(status), "{name}");
            assert_eq!(err.idempotency_key(), Some("vector-key"), "{name}");
            if !body.is_empty() {
                assert_eq!(
                    err.body().map(str::as_bytes),
                    Some(body),
                    "{name}: raw body kept"
                );
            }
        }
    }
}

#[tokio::test]
async fn validation_vectors_fail_before_any_io() {
    let server = ScriptedServer::start(vec![]).await;
    for case in load("validation.json") {
        let name = case["name"].as_str().expect("name");
        let input = &case["input"];
        let key = input["secret_key"]
            .as_str()
            .unwrap_or("sk_live_0123456789abcdefghij");
        let base = input["base_url"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| server.base_url());
        let mut request = RefundRequest::new(input["checkout_id"].as_str().expect("checkout_id"));
        request.amount = input["amount"].as_i64();
        if input["amount"].is_u64() && input["amount"].as_i64().is_none() {
            request.amount = Some(i64::MAX);
        }
        request.idempotency_key = input["idempotency_key"].as_str().map(str::to_owned);
        request.metadata = input["metadata"].as_object().map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_owned()))
                .collect::<BTreeMap<_, _>>()
        });
        let built = Client::builder(key).base_url(base).max_retries(0).build();
        let expect = &case["expect"];
        let Some(kind) = expect["kind"].as_str() else {
            assert!(built.is_ok(), "{name}: {:?}", built.err());
            assert!(request.validate().is_ok(), "{name}");
            continue;
        };
        let err = match built {
            Err(e) => e,
            Ok(client) => client.refund(request).await.expect_err(name),
        };
        assert_eq!(err.kind().as_str(), kind, "{name}: {err}");
        assert_eq!(err.field(), expect["field"].as_str(), "{name}: {err}");
        assert!(
            !err.to_string().contains("abcdefghijklmnop"),
            "{name}: secret echoed"
        );
    }
    assert!(
        server.requests().is_empty(),
        "invalid input reached the server"
    );
}

#[test]
fn defaults_vector() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/defaults.json"
    );
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("defaults.json")).expect("JSON");
    let d = &doc["defaults"];
    let secs = |k: &str| Duration::from_secs_f64(d[k].as_f64().expect(k));
    let config = Client::new("sk_live_0123456789abcdefghij")
        .expect("client")
        .config()
        .clone();
    assert_eq!(Some(config.base_url()), d["base_url"].as_str());
    assert_eq!(
        Some(u64::from(config.max_retries())),
        d["max_retries"].as_u64()
    );
    assert_eq!(config.timeout(), secs("timeout_seconds"));
    assert_eq!(config.total_timeout(), secs("total_timeout_seconds"));
    let verifier =
        WebhookVerifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("verifier");
    assert_eq!(
        verifier.tolerance_value(),
        secs("webhook_tolerance_seconds")
    );
    assert_eq!(
        refundkit::defaults::BASE_DELAY,
        secs("backoff_base_seconds")
    );
    assert_eq!(refundkit::defaults::MAX_DELAY, secs("backoff_max_seconds"));
    assert_eq!(
        refundkit::defaults::MAX_RETRY_AFTER,
        secs("max_retry_after_seconds")
    );
    assert_eq!(
        refundkit::policy::backoff(1, 1.0),
        secs("backoff_base_seconds")
    );
    assert_eq!(
        refundkit::policy::backoff(30, 1.0),
        secs("backoff_max_seconds")
    );
}

#[test]
fn key_vectors() {
    let doc = document("keys.json");
    for case in doc["cases"].as_array().expect("cases") {
        let parts: Vec<&str> = case["parts"]
            .as_array()
            .expect("parts")
            .iter()
            .map(|p| p.as_str().expect("part"))
            .collect();
        let namespace = case["namespace"].as_str().expect("namespace");
        let key = refundkit::idempotency_key_for(namespace, &parts).expect("valid");
        assert_eq!(Some(key.as_str()), case["key"].as_str(), "{}", case["name"]);
    }
    for case in doc["invalid"].as_array().expect("invalid") {
        let parts: Vec<&str> = case["parts"]
            .as_array()
            .expect("parts")
            .iter()
            .map(|p| p.as_str().expect("part"))
            .collect();
        let namespace = case["namespace"].as_str().expect("namespace");
        let err = refundkit::idempotency_key_for(namespace, &parts).expect_err("invalid");
        assert_eq!(err.kind(), refundkit::ErrorKind::InvalidInput);
        assert_eq!(err.field(), case["field"].as_str(), "{}", case["name"]);
    }
}
