//! `refundkit emulator`, as other test suites use it: start the binary,
//! read its one line, talk to it, stop it with a signal.

mod common;

use common::{live_key, run_cli};
use refundkit_emulator::ControlClient;

/// A running `refundkit emulator` child and the URL it announced.
type EmulatorProcess = common::Announced;

async fn spawn_emulator(extra_args: &[&str]) -> EmulatorProcess {
    let mut args = vec!["emulator", "--port", "0", "--webhook-time-scale", "0.001"];
    args.extend_from_slice(extra_args);
    common::spawn_announcing(&args, &[]).await
}

/// Sends `signal` (`TERM`, `INT`) and returns the exit code and whatever
/// else the process printed on stdout.
async fn stop_with(process: EmulatorProcess, signal: &str) -> (Option<i32>, String) {
    let signal = signal.to_owned();
    tokio::task::spawn_blocking(move || {
        let EmulatorProcess {
            mut child,
            mut rest_of_stdout,
            ..
        } = process;
        let sent = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed");
        let status = child.wait().expect("wait");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut rest_of_stdout, &mut rest).expect("read stdout");
        (status.code(), rest)
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announces_one_line_serves_the_api_and_exits_0_on_sigterm() {
    let process = spawn_emulator(&[]).await;
    assert!(
        process.url.starts_with("http://127.0.0.1:"),
        "{}",
        process.url
    );
    let control = ControlClient::new(&process.url, &live_key());
    let checkout = control
        .create_checkout(1000, None)
        .await
        .expect("create checkout");
    assert!(
        checkout["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("ch_")),
        "{checkout}"
    );

    let (code, rest) = stop_with(process, "TERM").await;
    assert_eq!(code, Some(0));
    assert_eq!(rest, "", "nothing after the listening line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_0_on_sigint() {
    let process = spawn_emulator(&[]).await;
    let (code, _) = stop_with(process, "INT").await;
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_key_flag_restricts_the_accepted_keys() {
    let allowed = live_key();
    let other = live_key();
    let process = spawn_emulator(&["--secret-key", &allowed]).await;
    let ok = ControlClient::new(&process.url, &allowed)
        .create_checkout(1000, None)
        .await;
    let refused = ControlClient::new(&process.url, &other)
        .create_checkout(1000, None)
        .await;
    let (code, _) = stop_with(process, "TERM").await;
    assert!(ok.is_ok(), "{ok:?}");
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_flag_is_applied_to_refunds() {
    let key = live_key();
    let process = spawn_emulator(&["--faults", r#"{"error_5xx": 1.0, "seed": 1}"#]).await;
    let control = ControlClient::new(&process.url, &key);
    let checkout = control.create_checkout(1000, None).await.expect("create");
    let id = checkout["id"].as_str().expect("id").to_owned();
    control.pay(&id).await.expect("pay");
    let env = [
        ("REFUNDKIT_SECRET_KEY", key.as_str()),
        ("REFUNDKIT_BASE_URL", process.url.as_str()),
    ];
    let run = run_cli(
        &["refund", &id, "--max-retries", "0", "--json"],
        &env,
        &[&key],
    )
    .await;
    let (code, _) = stop_with(process, "TERM").await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.json()["error"]["kind"], "server");
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_faults_are_a_usage_error() {
    let run = run_cli(
        &["emulator", "--faults", r#"{"drop_sometimes": 1}"#],
        &[],
        &[],
    )
    .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("--faults"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

/// A port on 127.0.0.1 held busy while the returned listener lives, so an
/// emulator told to use it fails to start instead of serving forever.
fn busy_port() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    (listener, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_host_draws_a_warning_about_the_open_control_endpoints() {
    // 192.0.2.1 (TEST-NET-1) is assigned to no interface here: the warning
    // comes first, then binding fails, so nothing listens beyond loopback.
    let run = run_cli(
        &["emulator", "--host", "192.0.2.1", "--port", "0"],
        &[],
        &[],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("warning:"), "{}", run.stderr);
    assert!(run.stderr.contains("/_emulator"), "{}", run.stderr);
    assert!(run.stderr.contains("192.0.2.1"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_host_draws_no_warning() {
    let (_held, port) = busy_port();
    let run = run_cli(
        &["emulator", "--host", "127.0.0.1", "--port", &port],
        &[],
        &[],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("cannot listen"), "{}", run.stderr);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_time_scale_that_is_huge_nan_infinite_or_negative_is_a_usage_error() {
    let (_held, port) = busy_port();
    for scale in ["1e19", "1001", "NaN", "inf", "-inf", "-1", "-0.5", "fast"] {
        let flag = format!("--webhook-time-scale={scale}");
        let run = run_cli(&["emulator", "--port", &port, &flag], &[], &[]).await;
        assert_eq!(run.code, Some(2), "{scale}: {run:?}");
        assert!(
            run.stderr.contains("--webhook-time-scale"),
            "{scale}: {}",
            run.stderr
        );
    }
    let spaced = run_cli(
        &["emulator", "--port", &port, "--webhook-time-scale", "-1"],
        &[],
        &[],
    )
    .await;
    assert_eq!(spaced.code, Some(2), "{spaced:?}");
    assert!(
        spaced.stderr.contains("from 0 to 1000"),
        "{}",
        spaced.stderr
    );
    // In range, it is accepted (and the busy port is what fails).
    for scale in ["0", "1000", "0.001"] {
        let flag = format!("--webhook-time-scale={scale}");
        let run = run_cli(&["emulator", "--port", &port, &flag], &[], &[]).await;
        assert_eq!(run.code, Some(1), "{scale}: {run:?}");
    }
}
