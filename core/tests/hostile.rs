//! `tests/vectors/hostile.json` against the Rust core: every hostile input
//! yields the typed error named in the vector, nothing reaches the server,
//! nothing panics.

mod support;

use std::collections::BTreeMap;

use base64::Engine as _;
use refundkit::{Client, RefundRequest, WebhookVerifier};
use serde_json::Value;
use support::ScriptedServer;

fn hostile() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/hostile.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("hostile.json")).expect("JSON")
}

fn generated_metadata(spec: &Value) -> BTreeMap<String, String> {
    let n = spec["entries"].as_u64().expect("entries") as usize;
    let kb = spec["key_bytes"].as_u64().expect("key_bytes") as usize;
    let vb = spec["value_bytes"].as_u64().expect("value_bytes") as usize;
    (0..n)
        .map(|i| {
            let mut k = format!("k{i}");
            k.extend(std::iter::repeat_n('k', kb.saturating_sub(k.len())));
            (k, "v".repeat(vb))
        })
        .collect()
}

#[tokio::test]
async fn hostile_refund_inputs_are_refused_before_any_io() {
    let server = ScriptedServer::start(vec![]).await;
    let doc = hostile();
    let mut ran = 0;
    for case in doc["refund_cases"].as_array().expect("refund_cases") {
        let name = case["name"].as_str().expect("name");
        if case["input"]["representable_in_rust"] == Value::Bool(false) {
            continue; // ruled out by the types: i64 amounts, String metadata
        }
        let input = &case["input"];
        let client = &case["client"];
        let mut request = RefundRequest::new(input["checkout_id"].as_str().expect("checkout_id"));
        request.amount = input["amount"].as_i64();
        request.idempotency_key = input["idempotency_key"].as_str().map(str::to_owned);
        request.metadata = match (&input["metadata"], &input["metadata_generate"]) {
            (Value::Object(m), _) => Some(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_owned()))
                    .collect(),
            ),
            (_, spec @ Value::Object(_)) => Some(generated_metadata(spec)),
            _ => None,
        };
        let key = client["secret_key"]
            .as_str()
            .unwrap_or("sk_live_0123456789abcdefghij");
        let base = client["base_url"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| server.base_url());
        let err = match Client::builder(key).base_url(base).build() {
            Err(e) => e,
            Ok(c) => c.refund(request).await.expect_err(name),
        };
        assert_eq!(
            Some(err.kind().as_str()),
            case["expect"]["kind"].as_str(),
            "{name}: {err}"
        );
        assert_eq!(
            err.field(),
            case["expect"]["field"].as_str(),
            "{name}: {err}"
        );
        assert!(
            err.to_string().len() < 1024,
            "{name}: error text echoes the input"
        );
        ran += 1;
    }
    assert!(ran >= 30, "only {ran} cases ran");
    assert!(
        server.requests().is_empty(),
        "a hostile input reached the server"
    );
}

#[test]
fn hostile_webhooks_are_rejected_with_a_typed_error() {
    let doc = hostile();
    for case in doc["webhook_cases"].as_array().expect("webhook_cases") {
        let name = case["name"].as_str().expect("name");
        let expect = &case["expect"];
        let body: Vec<u8> = if let Some(b) = case["body"].as_str() {
            b.as_bytes().to_vec()
        } else if let Some(b) = case["body_base64"].as_str() {
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .expect("base64")
        } else {
            let g = &case["body_generate"];
            let mut b = g["prefix"].as_str().expect("prefix").to_owned();
            b.push_str(
                &g["repeat"]
                    .as_str()
                    .expect("repeat")
                    .repeat(g["count"].as_u64().expect("count") as usize),
            );
            b.push_str(g["suffix"].as_str().expect("suffix"));
            b.into_bytes()
        };
        let verifier = match WebhookVerifier::new(case["secret"].as_str().expect("secret")) {
            Ok(v) => v,
            Err(e) => {
                assert_eq!(Some(e.kind().as_str()), expect["kind"].as_str(), "{name}");
                assert_eq!(e.field(), expect["field"].as_str(), "{name}");
                continue;
            }
        };
        let pairs: Vec<(&str, &str)> = case["header_pairs"]
            .as_array()
            .expect("pairs")
            .iter()
            .map(|p| (p[0].as_str().expect("name"), p[1].as_str().expect("value")))
            .collect();
        let err = verifier
            .verify_at(pairs, &body, case["now"].as_i64().expect("now"))
            .expect_err(name);
        assert_eq!(
            Some(err.kind().as_str()),
            expect["kind"].as_str(),
            "{name}: {err}"
        );
        if let Some(needle) = expect["error_contains"].as_str() {
            assert!(err.message().contains(needle), "{name}: {err}");
        }
    }
}
