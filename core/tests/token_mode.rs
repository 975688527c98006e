//! Token mode against a scripted relay on 127.0.0.1: refresh after a 401
//! with the same key, secret keys refused as tokens before any I/O, tokens
//! in no text.

mod support;

use std::sync::{Arc, Mutex};

use refundkit::{Client, Error, ErrorKind, RefundRequest};
use support::{accepted_body, Action, ScriptedServer};

/// A provider that hands out `tokens` in order and records each call's
/// `force_refresh`.
#[derive(Clone, Default)]
struct Tokens {
    tokens: Arc<Mutex<Vec<String>>>,
    calls: Arc<Mutex<Vec<bool>>>,
}

impl Tokens {
    fn new(tokens: &[&str]) -> Self {
        let t = Self::default();
        t.tokens
            .lock()
            .expect("lock")
            .extend(tokens.iter().rev().map(|s| (*s).to_owned()));
        t
    }

    fn client(&self, server: &ScriptedServer) -> Client {
        let me = self.clone();
        Client::builder_for_relay(server.base_url(), move |force: bool| {
            me.calls.lock().expect("lock").push(force);
            let next = me.tokens.lock().expect("lock").pop();
            async move { next.ok_or_else(|| Error::new(ErrorKind::Authentication, "no more tokens")) }
        })
        .max_retries(2)
        .build()
        .expect("client")
    }

    fn calls(&self) -> Vec<bool> {
        self.calls.lock().expect("lock").clone()
    }
}

fn unauthorized() -> Action {
    Action::Respond(
        401,
        vec![],
        r#"{"errorCode":"invalid_token","errorMessage":"The token has expired."}"#.into(),
    )
}

fn ok() -> Action {
    Action::Respond(202, vec![], accepted_body("ch_1", "rfd_1"))
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_repeats_with_the_same_key() {
    let server = ScriptedServer::start(vec![unauthorized(), ok()]).await;
    let tokens = Tokens::new(&["tok.old", "tok.new"]);
    let refund = tokens
        .client(&server)
        .refund(RefundRequest::new("ch_1").amount(100))
        .await
        .expect("refund");
    assert_eq!(tokens.calls(), [false, true]);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("authorization"), Some("Bearer tok.old"));
    assert_eq!(reqs[1].header("authorization"), Some("Bearer tok.new"));
    assert_eq!(
        reqs[0].header("idempotency-key"),
        reqs[1].header("idempotency-key")
    );
    assert_eq!(reqs[0].body, reqs[1].body);
    assert_eq!(
        reqs[0].header("idempotency-key"),
        Some(refund.idempotency_key.as_str())
    );
    assert_eq!(refund.attempts, 2);
}

#[tokio::test]
async fn a_second_401_is_an_authentication_error_without_a_third_token() {
    let server = ScriptedServer::start(vec![unauthorized(), unauthorized(), ok()]).await;
    let tokens = Tokens::new(&["tok.a", "tok.b", "tok.c"]);
    let err = tokens
        .client(&server)
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect_err("refused twice");
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.attempts(), 2);
    assert_eq!(tokens.calls(), [false, true]);
    assert_eq!(server.requests().len(), 2);
    assert!(err.idempotency_key().is_some());
}

#[tokio::test]
async fn a_token_that_looks_like_a_secret_key_is_refused_before_anything_is_sent() {
    let server = ScriptedServer::start(vec![ok()]).await;
    for secret in [
        "sk_live_0123456789abcdefghij",
        "sk_test_0123456789abcdefghij",
    ] {
        let tokens = Tokens::new(&[secret]);
        let err = tokens
            .client(&server)
            .refund(RefundRequest::new("ch_1"))
            .await
            .expect_err("a secret key is no token");
        assert_eq!(err.kind(), ErrorKind::Configuration);
        assert_eq!(err.field(), Some("token"));
        assert_eq!(err.attempts(), 0);
        assert!(!format!("{err} {err:?}").contains("0123456789"), "{err}");
    }
    // Also when the refreshed token is the secret key.
    let server2 = ScriptedServer::start(vec![unauthorized(), ok()]).await;
    let tokens = Tokens::new(&["tok.old", "sk_live_0123456789abcdefghij"]);
    let err = tokens
        .client(&server2)
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect_err("a secret key is no token");
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(server.requests().is_empty());
    assert_eq!(server2.requests().len(), 1);
}

#[tokio::test]
async fn tokens_appear_in_no_text_even_when_the_relay_echoes_them() {
    const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYXNoaWVyLTcifQ.SECRETSIGNATURE";
    let echo = format!(r#"{{"errorCode":"invalid_token","errorMessage":"bad {TOKEN}"}}"#);
    let server = ScriptedServer::start(vec![
        Action::Respond(403, vec![("x-request-id", TOKEN.to_owned())], echo.clone()),
        Action::Respond(
            202,
            vec![("x-request-id", TOKEN.to_owned())],
            format!(r#"{{"id":"ch_1","refundId":"rfd_{TOKEN}","message":"{TOKEN}"}}"#),
        ),
    ])
    .await;
    let tokens = Tokens::new(&[TOKEN, TOKEN]);
    let client = tokens.client(&server);
    let err = client
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect_err("403");
    let refund = client
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect("202");
    let text = format!(
        "{err} {err:?} {:?} {:?} {refund:?} {client:?} {:?}",
        err.body(),
        err.request_id(),
        client.config()
    );
    assert!(!text.contains("SECRETSIGNATURE"), "token leaked: {text}");
    assert!(!client.config().is_live());
    assert!(client.config().is_relay());
}
