//! Response parsing on arbitrary status, headers and body: never panics;
//! success only for 2xx with a refund id; every error keeps the key.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use refundkit::protocol::{parse_refund_response, ResponseMeta};

#[derive(Arbitrary, Debug)]
struct Input {
    status: u16,
    replayed: Option<String>,
    retry_after: Option<String>,
    request_id: Option<String>,
    body: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let mut headers = http::HeaderMap::new();
    let mut put = |name: &'static str, v: &Option<String>| {
        if let Some(v) = v {
            if let Ok(value) = http::HeaderValue::from_str(v) {
                headers.insert(name, value);
            }
        }
    };
    put("idempotent-replayed", &input.replayed);
    put("retry-after", &input.retry_after);
    put("x-request-id", &input.request_id);
    let meta = ResponseMeta::from_headers(&headers, std::time::SystemTime::now());
    match parse_refund_response(input.status, &meta, &input.body, "ch_1", "fuzz-key") {
        Ok(refund) => {
            assert!((200..300).contains(&input.status));
            assert!(!refund.refund_id.is_empty());
            assert_eq!(refund.idempotency_key, "fuzz-key");
        }
        Err(e) => {
            assert_eq!(e.idempotency_key(), Some("fuzz-key"));
            assert_eq!(e.status(), Some(input.status));
            let _ = e.to_string();
        }
    }
});
