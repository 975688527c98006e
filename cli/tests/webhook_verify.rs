//! `refundkit webhook verify`: deliveries signed with the core's
//! `WebhookSigner` verify; anything altered does not.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{run_cli, write_file, Run};
use refundkit::WebhookSigner;

const BODY: &str = r#"{"id":"evt_1","type":"refund.succeeded","createdDate":"2024-01-01T00:00:00Z","payload":{"id":"rfd_abc","type":"refund","amount":2500,"currency":"ZAR","paymentId":"p_1","status":"succeeded","mode":"live","metadata":{"checkoutId":"ch_xyz"}}}"#;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .expect("clock")
}

/// `--header` arguments for a delivery of `body` signed with `secret` at `timestamp`.
fn signed_headers(secret: &str, timestamp: i64, body: &str) -> Vec<String> {
    let signer = WebhookSigner::new(secret).expect("signer");
    signer
        .headers("msg_test1", timestamp, body.as_bytes())
        .iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect()
}

async fn verify(
    secret_flag: Option<&str>,
    env: &[(&str, &str)],
    headers: &[String],
    body_file: &str,
    extra: &[&str],
) -> Run {
    let mut args = vec!["webhook", "verify", "--body", body_file];
    if let Some(secret) = secret_flag {
        args.extend(["--secret", secret]);
    }
    for header in headers {
        args.extend(["--header", header.as_str()]);
    }
    args.extend_from_slice(extra);
    run_cli(&args, env, &[]).await
}

#[tokio::test]
async fn a_signed_delivery_verifies_and_its_event_is_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = write_file(dir.path(), "body.json", BODY);
    let secret = WebhookSigner::generate_secret();
    let run = verify(
        Some(&secret),
        &[],
        &signed_headers(&secret, now(), BODY),
        &body,
        &[],
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    for expected in [
        "evt_1",
        "refund.succeeded",
        "rfd_abc",
        "ch_xyz",
        "R25.00",
        "succeeded",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected} in {}",
            run.stdout
        );
    }
}

const PAYMENT_BODY: &str = r#"{"id":"evt_2","type":"payment.succeeded","createdDate":"2024-01-01T00:00:00Z","payload":{"id":"p_9","type":"payment","amount":5000,"currency":"ZAR","status":"succeeded","mode":"live","metadata":{"checkoutId":"ch_pay"}}}"#;

#[tokio::test]
async fn a_payment_event_prints_the_payment_then_the_checkout_and_no_refund_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = write_file(dir.path(), "payment.json", PAYMENT_BODY);
    let secret = WebhookSigner::generate_secret();
    let headers = signed_headers(&secret, now(), PAYMENT_BODY);
    let run = verify(Some(&secret), &[], &headers, &body, &[]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let labels: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| !l.contains("webhook id"))
        .skip(1)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(
        labels,
        ["created", "payment id", "checkout id", "amount", "status"],
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("p_9") && run.stdout.contains("ch_pay"));
    assert!(run.stdout.contains("R50.00"), "{}", run.stdout);

    let run = verify(Some(&secret), &[], &headers, &body, &["--json"]).await;
    let event = &run.json()["event"];
    assert_eq!(event["paymentId"], "p_9");
    assert_eq!(event["checkoutId"], "ch_pay");
    assert_eq!(event["amount"], 5000);
    assert_eq!(event["status"], "succeeded");
    assert!(event["refundId"].is_null() && event["failureReason"].is_null());
}

#[tokio::test]
async fn the_secret_may_come_from_the_environment_and_json_is_typed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = write_file(dir.path(), "body.json", BODY);
    let secret = WebhookSigner::generate_secret();
    let env = [("REFUNDKIT_WEBHOOK_SECRET", secret.as_str())];
    let run = verify(
        None,
        &env,
        &signed_headers(&secret, now(), BODY),
        &body,
        &["--json"],
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let event = &run.json()["event"];
    assert_eq!(event["type"], "refund.succeeded");
    assert_eq!(event["refundId"], "rfd_abc");
    assert_eq!(event["checkoutId"], "ch_xyz");
    assert_eq!(event["amount"], 2500);
    assert_eq!(event["status"], "succeeded");
    assert!(!run.stdout.contains(&secret) && !run.stderr.contains(&secret));
}

#[tokio::test]
async fn a_tampered_body_fails_with_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tampered = BODY.replace("2500", "250000");
    let body = write_file(dir.path(), "body.json", &tampered);
    let secret = WebhookSigner::generate_secret();
    let run = verify(
        Some(&secret),
        &[],
        &signed_headers(&secret, now(), BODY),
        &body,
        &[],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("no signature matches"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[tokio::test]
async fn another_secret_or_an_old_timestamp_fails_with_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = write_file(dir.path(), "body.json", BODY);
    let secret = WebhookSigner::generate_secret();
    let other = WebhookSigner::generate_secret();
    let wrong = verify(
        Some(&other),
        &[],
        &signed_headers(&secret, now(), BODY),
        &body,
        &["--json"],
    )
    .await;
    assert_eq!(wrong.code, Some(1), "{wrong:?}");
    assert_eq!(wrong.json()["error"]["kind"], "webhook_verification");

    let old = signed_headers(&secret, now() - 600, BODY);
    let stale = verify(Some(&secret), &[], &old, &body, &["--tolerance", "300"]).await;
    assert_eq!(stale.code, Some(1), "{stale:?}");
    assert!(stale.stderr.contains("too old"), "{}", stale.stderr);
}

#[tokio::test]
async fn a_malformed_secret_or_header_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = write_file(dir.path(), "body.json", BODY);
    let secret = WebhookSigner::generate_secret();
    let headers = signed_headers(&secret, now(), BODY);
    let bad_secret = verify(Some("not-a-whsec"), &[], &headers, &body, &[]).await;
    assert_eq!(bad_secret.code, Some(2), "{bad_secret:?}");
    let bad_header = verify(
        Some(&secret),
        &[],
        &["no colon here".to_owned()],
        &body,
        &[],
    )
    .await;
    assert_eq!(bad_header.code, Some(2), "{bad_header:?}");
}

#[tokio::test]
async fn escape_sequences_in_a_signed_event_are_shown_escaped() {
    // Signed by whoever holds the secret, but still text from the network.
    let body = r#"{"id":"evt_\u001b]0;owned\u0007","type":"refund.failed","createdDate":"2024-01-01\r","payload":{"id":"rfd_\u001b[2K","type":"refund","amount":100,"currency":"ZAR","status":"failed\u009b32m","failureReason":"\u001b[1A\rRefund accepted","metadata":{"checkoutId":"ch_\u007f"}}}"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_file(dir.path(), "body.json", body);
    let secret = WebhookSigner::generate_secret();
    let run = verify(
        Some(&secret),
        &[],
        &signed_headers(&secret, now(), body),
        &file,
        &[],
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    common::assert_no_control_chars(&run);
    for escaped in [
        r"evt_\u{1b}]0;owned\u{7}",
        r"2024-01-01\u{d}",
        r"rfd_\u{1b}[2K",
        r"failed\u{9b}32m",
        r"\u{1b}[1A\u{d}Refund accepted",
        r"ch_\u{7f}",
    ] {
        assert!(run.stdout.contains(escaped), "{escaped} in {}", run.stdout);
    }
}

/// Runs `webhook verify` on `body` (a path, or `-` with `stdin`), killing it
/// if it has not ended after 120 s: a guard against the old behaviour of
/// reading an endless body until memory runs out, not a timing check.
fn verify_guarded(body: &str, stdin: Option<std::fs::File>) -> Run {
    let secret = WebhookSigner::generate_secret();
    let headers = signed_headers(&secret, now(), "{}");
    let mut args = vec!["webhook", "verify", "--secret", &secret, "--body", body];
    for header in &headers {
        args.extend(["--header", header.as_str()]);
    }
    let mut cmd = common::command(&args, &[]);
    if let Some(file) = stdin {
        cmd.stdin(file);
    }
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let output = child.wait_with_output().expect("wait");
        let _ = done.send(());
        output
    });
    if finished
        .recv_timeout(std::time::Duration::from_secs(120))
        .is_err()
    {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("webhook verify --body {body} was still reading after 120 s");
    }
    let output = waiter.join().expect("join");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn assert_refused_as_too_large(run: &Run) {
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("larger than 1048576 bytes"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[tokio::test]
async fn an_endless_body_is_refused_after_reading_past_the_cap() {
    let run = tokio::task::spawn_blocking(|| verify_guarded("/dev/zero", None))
        .await
        .expect("join");
    assert_refused_as_too_large(&run);
    let stdin = std::fs::File::open("/dev/zero").expect("open /dev/zero");
    let run = tokio::task::spawn_blocking(move || verify_guarded("-", Some(stdin)))
        .await
        .expect("join");
    assert_refused_as_too_large(&run);
}

#[tokio::test]
async fn a_huge_sparse_body_file_is_refused_without_reading_it_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.json");
    let file = std::fs::File::create(&path).expect("create");
    // 4 GiB that take no disk space: before the cap the CLI read all of it.
    file.set_len(4 << 30).expect("sparse file");
    let path = path.to_str().expect("utf-8").to_owned();
    let run = tokio::task::spawn_blocking(move || verify_guarded(&path, None))
        .await
        .expect("join");
    assert_refused_as_too_large(&run);
}

#[tokio::test]
async fn a_body_of_exactly_the_cap_is_read_and_verified() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = format!(
        "{{\"pad\":\"{}\"}}",
        "a".repeat(refundkit::webhooks::MAX_BODY_LEN - 10)
    );
    assert_eq!(body.len(), refundkit::webhooks::MAX_BODY_LEN);
    let file = write_file(dir.path(), "body.json", &body);
    let secret = WebhookSigner::generate_secret();
    let run = verify(
        Some(&secret),
        &[],
        &signed_headers(&secret, now(), &body),
        &file,
        &[],
    )
    .await;
    // It reaches the verifier: the signature matches, but it is no event.
    assert_ne!(run.code, Some(2), "{run:?}");
    assert!(!run.stderr.contains("larger than"), "{}", run.stderr);
}
