//! `refundkit demo`: the README's first command works on its own.

mod common;

use common::run_cli;

/// Every `sk_live_` in `text` is masked (`sk_live_…`).
fn keys_are_masked(text: &str) -> bool {
    text.match_indices("sk_live_")
        .all(|(at, m)| text[at + m.len()..].starts_with('…'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_refunds_replays_and_verifies_the_webhook() {
    let run = run_cli(&["demo"], &[], &[]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let out = &run.stdout;
    for expected in [
        "1. ",
        "replayed:",
        "true",
        "refund.succeeded",
        "rfd_",
        "ch_",
        "idempotency key:",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(
        keys_are_masked(out) && keys_are_masked(&run.stderr),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_json_reports_every_step() {
    let run = run_cli(&["demo", "--json"], &[], &[]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let report = run.json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["refund"]["replayed"], false);
    assert_eq!(report["replay"]["replayed"], true);
    assert_eq!(report["replay"]["refundId"], report["refund"]["refundId"]);
    assert_eq!(
        report["replay"]["idempotencyKey"],
        report["refund"]["idempotencyKey"]
    );
    assert_eq!(report["event"]["type"], "refund.succeeded");
    assert_eq!(report["event"]["refundId"], report["refund"]["refundId"]);
    assert_eq!(report["ledger"]["refunds"], 1);
    assert!(keys_are_masked(&run.stdout), "{}", run.stdout);
}
