//! `refundkit refund CHECKOUT_ID`: results, typed errors and exit codes,
//! against a real emulator.

mod common;

use common::{live_key, run_cli, TestEmulator};
use refundkit_emulator::Faults;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_succeeds_with_exit_0_and_is_made_once() {
    let emu = TestEmulator::start().await;
    let id = emu.paid_checkout(2500).await;
    let run = emu.run(&["refund", &id, "--metadata", "order=42"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("Refund accepted"), "{}", run.stdout);
    assert!(run.stdout.contains("rfd_"), "{}", run.stdout);
    emu.assert_each_refunded_once(&[id]).await;
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_result_carries_the_key_and_a_repeat_is_replayed() {
    let emu = TestEmulator::start().await;
    let id = emu.paid_checkout(2500).await;
    let first = emu
        .run(&["refund", &id, "--amount", "1000", "--json"])
        .await;
    assert_eq!(first.code, Some(0), "{first:?}");
    let refund = first.json()["refund"].clone();
    assert_eq!(refund["replayed"], false);
    let key = refund["idempotencyKey"].as_str().expect("key").to_owned();

    let again = emu
        .run(&[
            "refund",
            &id,
            "--amount",
            "1000",
            "--idempotency-key",
            &key,
            "--json",
        ])
        .await;
    assert_eq!(again.code, Some(0), "{again:?}");
    assert_eq!(again.json()["refund"]["replayed"], true);
    assert_eq!(again.json()["refund"]["refundId"], refund["refundId"]);
    emu.assert_each_refunded_once(&[id]).await;
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_checkout_is_a_typed_not_found_error_with_exit_1() {
    let emu = TestEmulator::start().await;
    let run = emu.run(&["refund", "ch_doesNotExist0000000000"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("not_found"), "{}", run.stderr);
    assert!(run.stderr.contains("404"), "{}", run.stderr);
    assert!(run.stderr.contains("idempotency key"), "{}", run.stderr);

    let json = emu
        .run(&["refund", "ch_doesNotExist0000000000", "--json"])
        .await;
    assert_eq!(json.code, Some(1), "{json:?}");
    let error = &json.json()["error"];
    assert_eq!(error["kind"], "not_found");
    assert_eq!(error["status"], 404);
    assert_eq!(error["outcomeUnknown"], false);
    assert!(error["idempotencyKey"].is_string(), "{error}");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_exits_2_and_sends_nothing() {
    let emu = TestEmulator::start().await;
    let id = emu.paid_checkout(2500).await;
    let bad_runs: [&[&str]; 5] = [
        &["refund", &id, "--amount", "0"],
        &["refund", &id, "--amount", "-5"],
        &["refund", "ch_1/../x"],
        &["refund", &id, "--metadata", "novalue"],
        &["refund", &id, "--idempotency-key", "has space"],
    ];
    for args in bad_runs {
        let run = emu.run(args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
        assert!(!run.stderr.is_empty(), "{args:?} explains itself");
    }
    assert_eq!(emu.refund_requests().await, 0);
    assert!(emu.ledger().await.is_empty());
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_malformed_secret_key_exits_2() {
    let emu = TestEmulator::start().await;
    let id = emu.paid_checkout(2500).await;
    let url = [("REFUNDKIT_BASE_URL", emu.base_url.as_str())];
    let missing = run_cli(&["refund", &id], &url, &[]).await;
    assert_eq!(missing.code, Some(2), "{missing:?}");
    assert!(
        missing.stderr.contains("REFUNDKIT_SECRET_KEY"),
        "{}",
        missing.stderr
    );

    let malformed = "pk_live_notasecretkeyatall0000";
    let env = [("REFUNDKIT_SECRET_KEY", malformed), url[0]];
    let run = run_cli(&["refund", &id], &env, &[malformed]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(emu.refund_requests().await, 0);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_outcome_advises_a_retry_with_the_key_and_that_retry_refunds_once() {
    let emu = TestEmulator::start().await;
    let id = emu.paid_checkout(2500).await;
    let cut_after_commit = Faults {
        drop_after: 1.0,
        seed: Some(3),
        ..Faults::default()
    };
    emu.control
        .set_faults(&cut_after_commit)
        .await
        .expect("faults");
    let run = emu
        .run(&["refund", &id, "--max-retries", "0", "--json"])
        .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let error = run.json()["error"].clone();
    assert_eq!(error["outcomeUnknown"], true, "{error}");
    let key = error["idempotencyKey"].as_str().expect("key").to_owned();

    let other = emu.paid_checkout(2500).await;
    let text = emu.run(&["refund", &other, "--max-retries", "0"]).await;
    assert_eq!(text.code, Some(1), "{text:?}");
    assert!(
        text.stderr.contains("may have been made"),
        "{}",
        text.stderr
    );
    assert!(text.stderr.contains("--idempotency-key"), "{}", text.stderr);

    emu.control
        .set_faults(&Faults::default())
        .await
        .expect("faults off");
    let retry = emu
        .run(&["refund", &id, "--idempotency-key", &key, "--json"])
        .await;
    assert_eq!(retry.code, Some(0), "{retry:?}");
    assert_eq!(retry.json()["refund"]["replayed"], true);
    // Both cut-off refunds were made (the emulator commits, then cuts), once each.
    emu.assert_each_refunded_once(&[id, other]).await;
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_describes_the_commands_and_exits_0() {
    let run = run_cli(&["--help"], &[], &[]).await;
    assert_eq!(run.code, Some(0));
    for command in ["demo", "refund", "webhook", "emulator", "Exit status"] {
        assert!(run.stdout.contains(command), "{command}: {}", run.stdout);
    }
    let refund = run_cli(&["refund", "--help"], &[], &[]).await;
    assert!(
        refund.stdout.contains("REFUNDKIT_SECRET_KEY"),
        "{}",
        refund.stdout
    );
    let bad = run_cli(&["refund"], &[("REFUNDKIT_SECRET_KEY", &live_key())], &[]).await;
    assert_eq!(bad.code, Some(2), "{bad:?}");
}
