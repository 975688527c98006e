//! Input validation on arbitrary refund arguments: never panics, and every
//! accepted request builds a request whose path stays one segment and whose
//! body is a JSON object.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use refundkit::protocol::build_refund_request;
use refundkit::RefundRequest;

#[derive(Arbitrary, Debug)]
struct Input {
    checkout_id: String,
    amount: Option<i64>,
    metadata: Option<BTreeMap<String, String>>,
    idempotency_key: Option<String>,
    secret_key: String,
    base_url: String,
}

fuzz_target!(|input: Input| {
    let _ = refundkit::Client::builder(input.secret_key.clone())
        .base_url(input.base_url.clone())
        .into_config();
    let request = RefundRequest {
        checkout_id: input.checkout_id,
        amount: input.amount,
        metadata: input.metadata,
        idempotency_key: input.idempotency_key,
    };
    if request.validate().is_err() {
        return;
    }
    let http = build_refund_request(&request, request.idempotency_key.as_deref().unwrap_or("k"));
    let segment = http
        .path
        .strip_prefix("/api/checkouts/")
        .and_then(|p| p.strip_suffix("/refund"))
        .expect("path shape");
    assert!(!segment.contains('/') && !segment.contains('?') && !segment.contains('#'));
    assert!(segment != "." && segment != "..");
    let body: serde_json::Value = serde_json::from_slice(&http.body).expect("JSON body");
    assert!(body.is_object());
    for (_, v) in &http.headers {
        assert!(v.bytes().all(|b| (0x20..0x7f).contains(&b)), "header value {v:?}");
    }
});
