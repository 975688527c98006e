//! The async and blocking clients against a scripted server on 127.0.0.1.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use refundkit::policy::{Clock, Jitter, Sleep, SleepFuture};
use refundkit::{Client, ErrorKind, RefundRequest};
use support::{accepted_body, Action, ScriptedServer};

const KEY: &str = "sk_live_0123456789abcdefSECRET";

/// Records every backoff instead of sleeping, so retry tests are instant.
#[derive(Default)]
struct RecordingSleep(Mutex<Vec<Duration>>);

impl Sleep for RecordingSleep {
    fn sleep(&self, d: Duration) -> SleepFuture {
        self.0.lock().expect("lock").push(d);
        Box::pin(async {})
    }
}

struct FixedJitter(f64);

impl Jitter for FixedJitter {
    fn factor(&self) -> f64 {
        self.0
    }
}

fn client(server: &ScriptedServer, sleep: Arc<RecordingSleep>) -> Client {
    Client::builder(KEY)
        .base_url(server.base_url())
        .sleeper(sleep)
        .jitter(Arc::new(FixedJitter(1.0)))
        .build()
        .expect("client")
}

fn ok() -> Action {
    Action::Respond(202, vec![], accepted_body("ch_1", "rfd_1"))
}

fn status(code: u16, body: &str) -> Action {
    Action::Respond(code, vec![], body.to_owned())
}

#[tokio::test]
async fn sends_the_exact_headers_and_body() {
    let server = ScriptedServer::start(vec![ok()]).await;
    let c = client(&server, Arc::default());
    let refund = c
        .refund(
            RefundRequest::new("ch_1")
                .amount(250)
                .metadata("order", "42")
                .idempotency_key("order-42"),
        )
        .await
        .expect("refund");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/api/checkouts/ch_1/refund");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("accept"), Some("application/json"));
    assert_eq!(r.header("idempotency-key"), Some("order-42"));
    assert_eq!(r.header("host"), Some(server.addr.to_string().as_str()));
    assert_eq!(r.header("content-length"), Some("40"));
    assert_eq!(
        r.headers.len(),
        7,
        "exactly the headers ADR 0008 counts: {:?}",
        r.headers
    );
    assert_eq!(
        r.header("user-agent"),
        Some(format!("refundkit/{} (rust; tokio)", refundkit::VERSION).as_str())
    );
    assert_eq!(r.body, br#"{"amount":250,"metadata":{"order":"42"}}"#);
    assert_eq!(refund.refund_id, "rfd_1");
    assert_eq!(refund.idempotency_key, "order-42");
    assert_eq!(refund.attempts, 1);
    assert!(!refund.replayed);
}

#[tokio::test]
async fn a_base_url_with_a_path_keeps_it_before_the_api_path() {
    let server = ScriptedServer::start(vec![ok(), ok()]).await;
    for base in ["/relay", "/relay/"] {
        let client = Client::builder(KEY)
            .base_url(format!("{}{base}", server.base_url()))
            .build()
            .expect("client");
        client
            .refund(RefundRequest::new("ch_1"))
            .await
            .expect("refund");
    }
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/relay/api/checkouts/ch_1/refund",
            "/relay/api/checkouts/ch_1/refund"
        ]
    );
}

#[tokio::test]
async fn a_full_refund_sends_an_empty_object_and_a_fresh_uuid_key() {
    let server = ScriptedServer::start(vec![ok()]).await;
    let refund = client(&server, Arc::default())
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect("refund");
    let r = &server.requests()[0];
    assert_eq!(r.body, b"{}");
    let sent = r.header("idempotency-key").expect("key sent");
    assert_eq!(sent, refund.idempotency_key);
    assert_eq!(sent.len(), 36, "a UUID: {sent}");
}

#[tokio::test]
async fn a_key_fixed_before_the_call_is_the_key_sent() {
    let server = ScriptedServer::start(vec![ok()]).await;
    let mut request = RefundRequest::new("ch_1");
    let fixed = request.fix_idempotency_key().to_owned();
    let refund = client(&server, Arc::default())
        .refund(request)
        .await
        .expect("refund");
    assert_eq!(refund.idempotency_key, fixed);
    assert_eq!(
        server.requests()[0].header("idempotency-key"),
        Some(fixed.as_str())
    );
}

#[tokio::test]
async fn retries_5xx_with_the_same_key() {
    let server = ScriptedServer::start(vec![status(503, "{}"), ok()]).await;
    let sleep = Arc::new(RecordingSleep::default());
    let refund = client(&server, sleep.clone())
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect("refund");
    assert_eq!(refund.attempts, 2);
    let keys: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("idempotency-key").map(str::to_owned))
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1]);
    assert_eq!(keys[0].as_deref(), Some(refund.idempotency_key.as_str()));
    assert_eq!(
        *sleep.0.lock().expect("lock"),
        vec![Duration::from_millis(500)]
    );
}

#[tokio::test]
async fn a_base_url_path_is_kept_in_front_of_the_api_path() {
    let server = ScriptedServer::start(vec![ok()]).await;
    let c = Client::builder(KEY)
        .base_url(format!("{}/gateway/", server.base_url()))
        .build()
        .expect("client");
    c.refund(RefundRequest::new("ch_1")).await.expect("refund");
    assert_eq!(
        server.requests()[0].path,
        "/gateway/api/checkouts/ch_1/refund"
    );
}

#[tokio::test]
async fn a_body_arriving_in_many_chunks_is_read_whole() {
    let padding = "x".repeat(300 * 1024);
    let body = format!(
        r#"{{"id":"ch_1","refundId":"rfd_big","message":"{padding}","status":"successful"}}"#
    );
    let server = ScriptedServer::start(vec![Action::Respond(202, vec![], body)]).await;
    let refund = client(&server, Arc::default())
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect("refund");
    assert_eq!(refund.refund_id, "rfd_big");
}

#[tokio::test]
async fn an_answer_over_one_mib_is_refused_and_not_retried() {
    let body = format!(r#"{{"refundId":"rfd_1","pad":"{}"}}"#, "x".repeat(2 << 20));
    let server = ScriptedServer::start(vec![Action::Respond(202, vec![], body), ok()]).await;
    let err = client(&server, Arc::default())
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect_err("an oversized answer is not a refund");
    assert_eq!(err.kind(), ErrorKind::UnexpectedResponse);
    assert_eq!(err.status(), Some(202));
    assert!(err.message().contains("larger than 1048576 bytes"), "{err}");
    assert!(err.is_outcome_unknown(), "the server may have refunded");
    assert_eq!(err.attempts(), 1);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn backoff_doubles_between_attempts() {
    let server = ScriptedServer::start(vec![status(500, ""), status(500, ""), ok()]).await;
    let sleep = Arc::new(RecordingSleep::default());
    let refund = client(&server, sleep.clone())
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect("refund");
    assert_eq!(refund.attempts, 3);
    assert_eq!(
        *sleep.0.lock().expect("lock"),
        vec![Duration::from_millis(500), Duration::from_secs(1)]
    );
}

#[tokio::test]
async fn three_409s_end_in_an_idempotency_conflict_with_outcome_unknown() {
    let conflict = r#"{"errorCode":"idempotency_conflict","errorMessage":"A request with the same idempotency key is already being processed."}"#;
    let server = ScriptedServer::start(vec![
        status(409, conflict),
        status(409, conflict),
        status(409, conflict),
    ])
    .await;
    let err = client(&server, Arc::default())
        .refund(RefundRequest::new("ch_1").idempotency_key("k-409"))
        .await
        .expect_err("conflict");
    assert_eq!(err.kind(), ErrorKind::IdempotencyConflict);
    assert!(err.is_outcome_unknown());
    assert!(err.is_retryable());
    assert_eq!(err.attempts(), 3);
    assert_eq!(err.idempotency_key(), Some("k-409"));
    assert_eq!(err.status(), Some(409));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn client_errors_are_sent_exactly_once() {
    for (code, kind) in [
        (400, ErrorKind::InvalidRequest),
        (401, ErrorKind::Authentication),
        (403, ErrorKind::Authentication),
        (404, ErrorKind::NotFound),
        (422, ErrorKind::IdempotencyMismatch),
    ] {
        let server =
            ScriptedServer::start(vec![status(code, r#"{"description":"no"}"#), ok()]).await;
        let err = client(&server, Arc::default())
            .refund(RefundRequest::new("ch_1"))
            .await
            .expect_err("client error");
        assert_eq!(err.kind(), kind, "{code}");
        assert_eq!(err.attempts(), 1, "{code}");
        assert!(!err.is_outcome_unknown(), "{code}");
        assert!(!err.is_retryable(), "{code}");
        assert_eq!(server.requests().len(), 1, "{code}");
        assert!(err.idempotency_key().is_some(), "{code}");
    }
}

#[tokio::test]
async fn already_refunded_is_its_own_kind() {
    let server = ScriptedServer::start(vec![status(
        400,
        r#"{"description":"Payment has already been refunded."}"#,
    )])
    .await;
    let err = client(&server, Arc::default())
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect_err("400");
    assert_eq!(err.kind(), ErrorKind::AlreadyRefunded);
    assert_eq!(err.message(), "Payment has already been refunded.");
}

#[tokio::test]
async fn a_connection_cut_after_the_request_is_retried_with_the_same_key() {
    let server = ScriptedServer::start(vec![Action::CutAfterRead, ok()]).await;
    let refund = client(&server, Arc::default())
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect("refund");
    assert_eq!(refund.attempts, 2);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].header("idempotency-key"),
        reqs[1].header("idempotency-key")
    );
    assert_eq!(reqs[0].body, reqs[1].body);
}

#[tokio::test]
async fn cuts_until_retries_run_out_leave_the_outcome_unknown() {
    let server = ScriptedServer::start(vec![
        Action::CutAfterRead,
        Action::CutAfterRead,
        Action::CutAfterRead,
    ])
    .await;
    let err = client(&server, Arc::default())
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect_err("cut");
    assert_eq!(err.kind(), ErrorKind::Network);
    assert!(err.is_outcome_unknown());
    assert_eq!(err.attempts(), 3);
    assert!(err
        .to_string()
        .contains(err.idempotency_key().expect("key")));
}

#[tokio::test]
async fn a_closed_port_is_a_network_error_with_a_known_outcome() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = Client::builder(KEY)
        .base_url(format!("http://{addr}"))
        .max_retries(0)
        .build()
        .expect("client")
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Network);
    assert!(
        !err.is_outcome_unknown(),
        "a refused connection never reached the server"
    );
}

#[tokio::test]
async fn retry_after_is_respected() {
    let server = ScriptedServer::start(vec![
        Action::Respond(429, vec![("retry-after", "1".into())], "{}".into()),
        ok(),
    ])
    .await;
    let sleep = Arc::new(RecordingSleep::default());
    let refund = client(&server, sleep.clone())
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect("refund");
    assert_eq!(refund.attempts, 2);
    assert_eq!(*sleep.0.lock().expect("lock"), vec![Duration::from_secs(1)]);
}

#[tokio::test]
async fn retry_after_zero_never_shortens_the_backoff() {
    let zero = || Action::Respond(429, vec![("retry-after", "0".into())], "{}".into());
    let server = ScriptedServer::start(vec![zero(), zero(), ok()]).await;
    let sleep = Arc::new(RecordingSleep::default());
    let refund = client(&server, sleep.clone())
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect("refund");
    assert_eq!(refund.attempts, 3);
    assert_eq!(
        *sleep.0.lock().expect("lock"),
        vec![Duration::from_millis(500), Duration::from_secs(1)]
    );
}

#[tokio::test]
async fn a_refund_reports_the_time_its_attempts_took_backoff_included() {
    let server = ScriptedServer::start(vec![status(503, "{}"), status(503, "{}"), ok()]).await;
    let clock = Arc::new(SleepDrivenClock::default());
    let refund = deadline_client(&server, clock)
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect("refund");
    assert_eq!(refund.attempts, 3);
    assert_eq!(refund.elapsed, Duration::from_millis(1500));
}

#[tokio::test]
async fn retry_after_beyond_thirty_seconds_ends_the_retries() {
    let server = ScriptedServer::start(vec![
        Action::Respond(429, vec![("retry-after", "120".into())], "{}".into()),
        ok(),
    ])
    .await;
    let err = client(&server, Arc::default())
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect_err("rate limited");
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert!(!err.is_outcome_unknown());
    assert_eq!(server.requests().len(), 1);
}

/// A clock that moves only when the client sleeps: the deadline arithmetic
/// is exact, whatever the real time an attempt takes.
#[derive(Default)]
struct SleepDrivenClock(Mutex<Duration>);

impl Clock for SleepDrivenClock {
    fn now(&self) -> Duration {
        *self.0.lock().expect("lock")
    }
}

impl Sleep for SleepDrivenClock {
    fn sleep(&self, d: Duration) -> SleepFuture {
        *self.0.lock().expect("lock") += d;
        Box::pin(async {})
    }
}

fn deadline_client(server: &ScriptedServer, clock: Arc<SleepDrivenClock>) -> Client {
    Client::builder(KEY)
        .base_url(server.base_url())
        .max_retries(10)
        .timeout(Duration::from_millis(200))
        .total_timeout(Duration::from_secs(2))
        .sleeper(clock.clone())
        .clock(clock)
        .jitter(Arc::new(FixedJitter(1.0)))
        .build()
        .expect("client")
}

#[tokio::test]
async fn total_timeout_ends_the_retries_at_an_exact_attempt() {
    // Backoffs 0.5 s and 1 s fit in the 2 s budget; the third (2 s) does not.
    let server = ScriptedServer::start((0..12).map(|_| status(503, "{}")).collect()).await;
    let clock = Arc::new(SleepDrivenClock::default());
    let err = deadline_client(&server, clock.clone())
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect_err("server errors");
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(err.attempts(), 3);
    assert_eq!(server.requests().len(), 3);
    assert_eq!(clock.now(), Duration::from_millis(1500));
}

#[tokio::test]
async fn attempts_that_time_out_end_at_the_deadline_with_the_outcome_unknown() {
    let slow =
        || Action::DelayThenRespond(Duration::from_secs(5), 202, accepted_body("ch_1", "rfd_1"));
    let server = ScriptedServer::start((0..12).map(|_| slow()).collect()).await;
    let err = deadline_client(&server, Arc::default())
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect_err("timeout");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.is_outcome_unknown());
    assert!(err.is_retryable(), "a later retry with the key may succeed");
    assert_eq!(err.attempts(), 3);
}

#[tokio::test]
async fn replayed_answers_are_flagged() {
    let server = ScriptedServer::start(vec![Action::Respond(
        202,
        vec![
            ("Idempotent-Replayed", "true".into()),
            ("x-request-id", "req_9".into()),
        ],
        accepted_body("ch_1", "rfd_1"),
    )])
    .await;
    let refund = client(&server, Arc::default())
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect("refund");
    assert!(refund.replayed);
    assert_eq!(refund.request_id.as_deref(), Some("req_9"));
}

#[tokio::test]
async fn the_secret_never_appears_in_errors_even_when_echoed() {
    let echo = format!(r#"{{"errorMessage":"bad key {KEY}"}}"#);
    let server = ScriptedServer::start(vec![status(403, &echo)]).await;
    let c = client(&server, Arc::default());
    let err = c.refund(RefundRequest::new("ch_1")).await.expect_err("403");
    let text = format!("{err} {err:?} {:?} {}", err.body(), err.message());
    assert!(!text.contains("SECRET"), "{text}");
    assert!(!format!("{c:?}").contains("SECRET"));
}

#[tokio::test]
async fn the_user_agent_names_the_binding() {
    let server = ScriptedServer::start(vec![ok()]).await;
    Client::builder(KEY)
        .base_url(server.base_url())
        .user_agent_binding("python", "CPython 3.11")
        .build()
        .expect("client")
        .refund(RefundRequest::new("ch_1"))
        .await
        .expect("refund");
    assert_eq!(
        server.requests()[0].header("user-agent"),
        Some(format!("refundkit/{} (python; CPython 3.11)", refundkit::VERSION).as_str())
    );
}

#[tokio::test]
async fn clones_share_one_client_across_tasks() {
    let server = ScriptedServer::start((0..20).map(|_| ok()).collect()).await;
    let c = client(&server, Arc::default());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.refund(RefundRequest::new("ch_1")).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("join").expect("refund");
    }
    assert_eq!(server.requests().len(), 20);
}

#[test]
fn the_blocking_client_refunds_from_plain_threads() {
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let server = rt.block_on(ScriptedServer::start((0..8).map(|_| ok()).collect()));
    let c = Client::builder(KEY)
        .base_url(server.base_url())
        .build_blocking()
        .expect("client");
    std::thread::scope(|s| {
        for _ in 0..8 {
            let c = c.clone();
            s.spawn(move || c.refund(RefundRequest::new("ch_1")).expect("refund"));
        }
    });
    assert_eq!(server.requests().len(), 8);
}

#[tokio::test]
async fn the_blocking_client_refuses_to_run_inside_a_runtime() {
    let c = Client::builder(KEY)
        .base_url("http://127.0.0.1:9")
        .build_blocking()
        .expect("client");
    let err = c
        .refund(RefundRequest::new("ch_1"))
        .expect_err("inside runtime");
    assert_eq!(err.kind(), ErrorKind::Configuration);
}

#[test]
fn clients_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Client>();
    assert_send_sync::<refundkit::blocking::Client>();
    assert_send_sync::<refundkit::WebhookVerifier>();
}
