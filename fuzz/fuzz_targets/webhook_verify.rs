//! Webhook verification on arbitrary headers and bodies: never panics, and a
//! delivery signed with the right secret always passes the signature check.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use refundkit::{ErrorKind, WebhookSigner, WebhookVerifier};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Arbitrary, Debug)]
struct Input {
    id: String,
    timestamp: String,
    signature: String,
    extra: Vec<(String, String)>,
    body: Vec<u8>,
    now: i64,
    sign_properly: bool,
    secret: Option<String>,
}

fuzz_target!(|input: Input| {
    if let Some(secret) = &input.secret {
        let _ = WebhookVerifier::new(secret);
        let _ = WebhookSigner::new(secret);
    }
    let verifier = WebhookVerifier::new(SECRET).expect("valid secret");
    let signature = if input.sign_properly {
        let ts = input.timestamp.trim().parse::<i64>().unwrap_or(input.now);
        let signer = WebhookSigner::new(SECRET).expect("valid secret");
        (signer.sign(input.id.trim(), ts, &input.body), Some(ts))
    } else {
        (input.signature.clone(), None)
    };
    let ts_text = match signature.1 {
        Some(ts) => ts.to_string(),
        None => input.timestamp.clone(),
    };
    let mut headers: Vec<(&str, &str)> = vec![
        ("webhook-id", input.id.as_str()),
        ("webhook-timestamp", ts_text.as_str()),
        ("webhook-signature", signature.0.as_str()),
    ];
    headers.extend(input.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let result = verifier.verify_at(headers.iter().copied(), &input.body, input.now);
    if let Err(e) = &result {
        assert_eq!(e.kind(), ErrorKind::WebhookVerification);
        let duplicated = input.extra.iter().any(|(k, _)| {
            ["webhook-id", "webhook-timestamp", "webhook-signature"]
                .iter()
                .any(|h| k.eq_ignore_ascii_case(h))
        });
        let in_tolerance = signature
            .1
            .is_some_and(|ts| (input.now.saturating_sub(ts)).unsigned_abs() <= 300);
        if input.sign_properly
            && in_tolerance
            && !duplicated
            && !input.id.trim().is_empty()
            && input.id.len() <= 4096
            && input.body.len() <= refundkit::webhooks::MAX_BODY_LEN
        {
            assert_ne!(e.message(), "no signature matches", "a proper signature was rejected");
        }
    }
});
