//! Provokes every error kind and scans all text the SDK produces (Display,
//! Debug, logs) for the secret key: zero hits.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use refundkit::{Client, ErrorKind, RefundRequest, WebhookVerifier};
use support::{Action, ScriptedServer};

const SECRET: &str = "sk_live_TOPSECRET0123456789abcdef";
const NEEDLE: &str = "TOPSECRET";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn respond(code: u16, body: &str) -> Action {
    Action::Respond(code, vec![], body.to_owned())
}

#[tokio::test]
async fn no_error_kind_and_no_log_line_contains_the_secret() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let echo = format!(r#"{{"errorMessage":"key {SECRET} rejected","description":"{SECRET}"}}"#);
    let answers = [
        respond(400, &echo),
        respond(
            400,
            r#"{"description":"Payment has already been refunded."}"#,
        ),
        respond(403, &echo),
        respond(404, &echo),
        respond(409, &echo),
        respond(422, &echo),
        respond(429, &echo),
        respond(500, &echo),
        respond(202, &echo),
        Action::CutAfterRead,
        Action::DelayThenRespond(Duration::from_secs(3), 202, "{}".into()),
    ];
    let mut seen = Vec::new();
    let mut texts = Vec::new();
    for answer in answers {
        let server = ScriptedServer::start(vec![answer]).await;
        let client = Client::builder(SECRET)
            .base_url(server.base_url())
            .max_retries(0)
            .timeout(Duration::from_millis(300))
            .build()
            .expect("client");
        texts.push(format!("{client:?} {:?}", client.config()));
        let err = client
            .refund(RefundRequest::new("ch_1"))
            .await
            .expect_err("fails");
        seen.push(err.kind());
        texts.push(format!(
            "{err} {err:?} {} {:?} {:?}",
            err.message(),
            err.body(),
            err.error_code()
        ));
    }
    let refused = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = refused.local_addr().expect("addr");
    drop(refused);
    let client = Client::builder(SECRET)
        .base_url(format!("http://{addr}"))
        .max_retries(0)
        .build()
        .expect("client");
    let err = client
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect_err("refused");
    seen.push(err.kind());
    texts.push(format!("{err} {err:?}"));

    let err = client
        .refund(RefundRequest::new("../x"))
        .await
        .expect_err("invalid");
    seen.push(err.kind());
    texts.push(format!("{err} {err:?}"));
    for bad in [
        Client::builder(format!("{SECRET} ")).build(),
        Client::builder(SECRET)
            .base_url("http://example.com")
            .build(),
        Client::builder(SECRET.replace("sk_", "pk_")).build(),
    ] {
        let err = bad.expect_err("configuration");
        seen.push(err.kind());
        texts.push(format!("{err} {err:?}"));
    }
    let err = WebhookVerifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .expect("verifier")
        .verify([("webhook-id", SECRET)], b"{}")
        .expect_err("webhook");
    seen.push(err.kind());
    texts.push(format!("{err} {err:?}"));

    for kind in ErrorKind::ALL {
        assert!(seen.contains(&kind), "kind {kind} was not provoked");
    }
    let logged = String::from_utf8_lossy(&logs.0.lock().expect("lock")).into_owned();
    assert!(!logged.is_empty(), "the client logged nothing at TRACE");
    for text in texts.iter().chain([&logged]) {
        assert!(!text.contains(NEEDLE), "secret leaked: {text}");
    }
}

/// The key, JSON-escaped so that a raw-bytes scan cannot see it.
fn escaped(secret: &str) -> String {
    secret
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect()
}

fn echoing_client(server: &ScriptedServer) -> Client {
    Client::builder(SECRET)
        .base_url(server.base_url())
        .max_retries(0)
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_success_echoing_the_key_everywhere_shows_it_nowhere() {
    for key_text in [SECRET.to_owned(), escaped(SECRET)] {
        let body = format!(
            r#"{{"id":"ch_1","refundId":"rfd_{key_text}","message":"key {key_text}","status":"{key_text}"}}"#
        );
        let server = ScriptedServer::start(vec![Action::Respond(
            202,
            vec![("x-request-id", format!("req_{SECRET}"))],
            body,
        )])
        .await;
        let refund = echoing_client(&server)
            .refund(RefundRequest::new("ch_1"))
            .await
            .expect("accepted");
        let text = format!(
            "{refund:?} {} {:?} {} {:?}",
            refund.refund_id, refund.message, refund.status, refund.request_id
        );
        assert!(!text.contains(NEEDLE), "secret leaked: {text}");
        assert!(refund.refund_id.starts_with("rfd_sk_live_…"), "{text}");
    }
}

#[tokio::test]
async fn an_error_echoing_the_key_everywhere_shows_it_nowhere() {
    for status in [400, 403, 500, 202] {
        for key_text in [SECRET.to_owned(), escaped(SECRET)] {
            // A 202 without a refundId is an unexpected answer: the body is kept.
            let body = format!(
                r#"{{"errorCode":"{key_text}","errorMessage":"bad {key_text}","status":"{key_text}"}}"#
            );
            let server = ScriptedServer::start(vec![Action::Respond(
                status,
                vec![("x-request-id", SECRET.to_owned())],
                body,
            )])
            .await;
            let err = echoing_client(&server)
                .refund(RefundRequest::new("ch_1"))
                .await
                .expect_err("refused");
            let text = format!(
                "{err} {err:?} {} {:?} {:?} {:?}",
                err.message(),
                err.body(),
                err.error_code(),
                err.request_id()
            );
            assert!(!text.contains(NEEDLE), "{status}: secret leaked: {text}");
            let body: serde_json::Value =
                serde_json::from_str(err.body().expect("body")).expect("JSON body");
            assert!(
                !body.to_string().contains(NEEDLE),
                "{status}: escaped key kept: {body}"
            );
            assert!(
                body["errorCode"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("sk_live_…")),
                "{status}"
            );
        }
    }
}

#[tokio::test]
async fn the_key_is_masked_before_the_body_is_cut() {
    // The key straddles the 64 KiB cut of the kept body: masking after the
    // cut would keep its first part.
    let pad = "x".repeat(64 * 1024 - 30);
    let body = format!(r#"{{"errorMessage":"{pad}{SECRET}"}}"#);
    let server = ScriptedServer::start(vec![Action::Respond(400, vec![], body)]).await;
    let err = echoing_client(&server)
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect_err("400");
    let kept = err.body().expect("body");
    assert!(kept.len() <= 64 * 1024);
    assert!(
        !kept.contains("sk_live_T"),
        "a part of the key survived the cut"
    );
    assert!(!format!("{err:?} {err}").contains(NEEDLE));
}
