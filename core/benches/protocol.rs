//! The pure parts of a refund: building the request, parsing answers,
//! verifying and parsing webhooks (1 KB and 64 KB bodies).

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use refundkit::protocol::{build_refund_request, parse_refund_response, ResponseMeta};
use refundkit::{RefundRequest, WebhookEvent, WebhookSigner, WebhookVerifier};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn refund_event(size: usize) -> Vec<u8> {
    let head = r#"{"id":"evt_1","type":"refund.succeeded","createdDate":"2026-11-26T09:00:00Z","payload":{"id":"rfd_abc","type":"refund","amount":5000,"currency":"ZAR","paymentId":"p_xyz","status":"succeeded","mode":"live","metadata":{"checkoutId":"ch_123","pad":""#;
    let tail = r#""}}}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    format!("{head}{}{tail}", "x".repeat(pad)).into_bytes()
}

fn requests(c: &mut Criterion) {
    let full = RefundRequest::new("ch_9LVKD8GnAj7f39DFbn4F16bE");
    let partial = full
        .clone()
        .amount(150)
        .metadata("order", "42")
        .metadata("source", "bench");
    c.bench_function("build_refund_request/full", |b| {
        b.iter(|| build_refund_request(black_box(&full), "0b5a7c1e-3f0c-4e7e-9b0e-6a8a0f4b2c11"))
    });
    c.bench_function("build_refund_request/partial_with_metadata", |b| {
        b.iter(|| build_refund_request(black_box(&partial), "0b5a7c1e-3f0c-4e7e-9b0e-6a8a0f4b2c11"))
    });
    c.bench_function("validate/partial_with_metadata", |b| {
        b.iter(|| black_box(&partial).validate())
    });
}

fn responses(c: &mut Criterion) {
    let meta = ResponseMeta::default();
    let accepted = br#"{"id":"ch_9LVKD8GnAj7f39DFbn4F16bE","refundId":"rfd_r72Lbce7jZ46y7HgycNJ5Fvrb","message":"Your refund has been processed","status":"successful"}"#;
    let declined = br#"{"errorCode":"already_refunded","errorMessage":"Payment has already been refunded.","displayMessage":"Payment has already been refunded.","description":"Payment has already been refunded."}"#;
    c.bench_function("parse_refund_response/202", |b| {
        b.iter(|| parse_refund_response(202, &meta, black_box(accepted), "ch_1", "k"))
    });
    c.bench_function("parse_refund_response/400", |b| {
        b.iter(|| parse_refund_response(400, &meta, black_box(declined), "ch_1", "k"))
    });
    let mut headers = http::HeaderMap::new();
    headers.insert("idempotent-replayed", "true".parse().expect("value"));
    headers.insert("x-request-id", "req_123".parse().expect("value"));
    c.bench_function("response_meta/from_headers", |b| {
        b.iter(|| ResponseMeta::from_headers(black_box(&headers), SystemTime::UNIX_EPOCH))
    });
}

fn webhooks(c: &mut Criterion) {
    let signer = WebhookSigner::new(SECRET).expect("secret");
    let verifier = WebhookVerifier::new(SECRET).expect("secret");
    let now = 1_764_147_600;
    let mut group = c.benchmark_group("webhook");
    for size in [1024usize, 64 * 1024] {
        let body = refund_event(size);
        let sig = signer.sign("msg_1", now, &body);
        let ts = now.to_string();
        let headers = [
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", ts.as_str()),
            ("webhook-signature", sig.as_str()),
        ];
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("verify_and_parse/{}KB", size / 1024), |b| {
            b.iter(|| {
                verifier
                    .verify_at(headers, black_box(&body), now)
                    .expect("valid")
            })
        });
        group.bench_function(format!("parse_only/{}KB", size / 1024), |b| {
            b.iter(|| WebhookEvent::parse("msg_1", black_box(&body)).expect("valid"))
        });
        group.bench_function(format!("sign/{}KB", size / 1024), |b| {
            b.iter(|| signer.sign("msg_1", now, black_box(&body)))
        });
    }
    group.finish();
}

criterion_group!(benches, requests, responses, webhooks);
criterion_main!(benches);
