//! What a hostile or odd server answers must not fool the CLI's reader:
//! a 202 whose status is not a success is not reported as a refund (exit 1),
//! and escape sequences in refund ids, messages, statuses and error text
//! never reach the terminal raw (issue 11, items 4 and 5).

mod common;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use common::{assert_no_control_chars, live_key, run_cli, Run, TestEmulator};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_202_with_status_failed_is_not_reported_as_a_refund_and_exits_1() {
    let emu = TestEmulator::start().await;
    let id = emu
        .paid_checkout_with(2500, &[("emulator.refund_status", "failed")])
        .await;
    let text = emu.run(&["refund", &id]).await;
    assert_eq!(text.code, Some(1), "{text:?}");
    assert!(!text.stdout.contains("Refund accepted"), "{}", text.stdout);
    assert!(
        text.stdout.contains("Refund not successful"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("\"failed\""), "{}", text.stdout);

    let other = emu
        .paid_checkout_with(2500, &[("emulator.refund_status", "failed")])
        .await;
    let json = emu.run(&["refund", &other, "--json"]).await;
    assert_eq!(json.code, Some(1), "{json:?}");
    let document = json.json();
    assert_eq!(document["ok"], false);
    assert_eq!(document["refund"]["status"], "failed");
    assert_eq!(document["error"]["kind"], "refund_not_successful");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_successful_and_succeeded_exit_0() {
    let emu = TestEmulator::start().await;
    for (status, code) in [("pending", 1), ("SUCCESSFUL", 1), ("", 1), ("succeeded", 0)] {
        let id = emu
            .paid_checkout_with(2500, &[("emulator.refund_status", status)])
            .await;
        let run = emu.run(&["refund", &id, "--json"]).await;
        assert_eq!(run.code, Some(code), "{status:?}: {run:?}");
        assert_eq!(run.json()["refund"]["status"], status);
        assert_eq!(run.json()["ok"], code == 0, "{status:?}");
    }
    emu.stop().await;
}

/// Text meant to rewrite the terminal: set the window title, erase the
/// line, return the carriage, and a raw C1 CSI.
const HOSTILE_ID: &str = "rfd_\u{1b}]0;owned\u{7}\r\u{1b}[2KRefund accepted";
const HOSTILE_MESSAGE: &str = "\u{1b}[1A\u{1b}[2K\rRefund accepted\u{9b}32m\u{7f}";
const HOSTILE_STATUS: &str = "\u{1b}[32msuccessful";
const HOSTILE_ERROR: &str = "\u{1b}]8;;http://evil.example\u{7}declined\r\u{1b}[2KRefund accepted";

/// A server on loopback answering refunds of `ch_accepted` with a 202 full
/// of escape sequences, of `ch_oddStatus` with a 202 whose status is one,
/// and of anything else with a 400 whose error text is one.
async fn hostile_server() -> String {
    async fn refund(Path(id): Path<String>) -> axum::response::Response {
        let accepted = |status: &str| {
            let body = json!({
                "id": id,
                "refundId": HOSTILE_ID,
                "message": HOSTILE_MESSAGE,
                "status": status,
            });
            (StatusCode::ACCEPTED, axum::Json(body)).into_response()
        };
        match id.as_str() {
            "ch_accepted" => accepted("successful"),
            "ch_oddStatus" => accepted(HOSTILE_STATUS),
            _ => {
                let body = json!({
                    "errorCode": "declined\u{1b}[0m",
                    "errorMessage": HOSTILE_ERROR,
                    "description": HOSTILE_ERROR,
                });
                (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
            }
        }
    }
    let app = axum::Router::new().route("/api/checkouts/{id}/refund", post(refund));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn refund_against(url: &str, checkout_id: &str, json: bool) -> Run {
    let key = live_key();
    let env = [
        ("REFUNDKIT_SECRET_KEY", key.as_str()),
        ("REFUNDKIT_BASE_URL", url),
    ];
    let mut args = vec!["refund", checkout_id, "--max-retries", "0"];
    if json {
        args.push("--json");
    }
    let run = run_cli(&args, &env, &[&key]).await;
    assert_no_control_chars(&run);
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_sequences_in_an_accepted_refund_are_shown_escaped() {
    let url = hostile_server().await;
    let run = refund_against(&url, "ch_accepted", false).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout
            .contains(r"rfd_\u{1b}]0;owned\u{7}\u{d}\u{1b}[2KRefund accepted"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(r"\u{9b}32m\u{7f}"), "{}", run.stdout);

    let json = refund_against(&url, "ch_accepted", true).await;
    assert_eq!(json.code, Some(0), "{json:?}");
    assert_eq!(json.json()["refund"]["refundId"], HOSTILE_ID);
    assert_eq!(json.json()["refund"]["message"], HOSTILE_MESSAGE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escape_sequence_as_status_is_shown_escaped_and_is_not_success() {
    let url = hostile_server().await;
    let run = refund_against(&url, "ch_oddStatus", false).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout.contains(r"\u{1b}[32msuccessful"),
        "{}",
        run.stdout
    );
    let json = refund_against(&url, "ch_oddStatus", true).await;
    assert_eq!(json.code, Some(1), "{json:?}");
    assert_eq!(json.json()["refund"]["status"], HOSTILE_STATUS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_sequences_in_error_text_are_shown_escaped() {
    let url = hostile_server().await;
    let run = refund_against(&url, "ch_declined", false).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains(r"\u{1b}]8;;http://evil.example\u{7}declined\u{d}"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(r"declined\u{1b}[0m"), "{}", run.stderr);
    let json = refund_against(&url, "ch_declined", true).await;
    assert_eq!(json.code, Some(1), "{json:?}");
    assert_eq!(json.json()["error"]["message"], HOSTILE_ERROR);
}
