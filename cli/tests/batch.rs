//! `refundkit refund --from FILE.csv --journal FILE.db`: every row refunded
//! exactly once, whatever happens to the process, per the emulator's ledger.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use common::{assert_no_secret, command, write_file, Run, TestEmulator};
use refundkit_emulator::Faults;
use serde_json::Value;

/// Paid checkouts and a CSV file refunding each of them.
async fn paid_batch(
    emu: &TestEmulator,
    dir: &std::path::Path,
    count: usize,
) -> (Vec<String>, String) {
    let mut ids = Vec::new();
    let mut csv = String::from("checkout_id,amount,note\n# refunds for the test\n\n");
    for n in 0..count {
        let id = emu.paid_checkout(1000 + n as i64).await;
        // Mix full refunds, partial amounts and metadata.
        match n % 3 {
            0 => csv.push_str(&format!("{id}\n")),
            1 => csv.push_str(&format!("{id},500\n")),
            _ => csv.push_str(&format!("{id},,order={n}\n")),
        }
        ids.push(id);
    }
    let path = write_file(dir, "refunds.csv", &csv);
    (ids, path)
}

/// The idempotency key of every row, by line, from a `--json` batch report.
fn keys_by_line(report: &Value) -> HashMap<u64, String> {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            let line = row["line"].as_u64().expect("line");
            let key = row["idempotencyKey"].as_str().expect("key").to_owned();
            (line, key)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_every_row_exactly_once() {
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (ids, csv) = paid_batch(&emu, dir.path(), 30).await;
    let journal = dir.path().join("journal.db");
    let journal = journal.to_str().expect("path");

    let run = emu
        .run(&[
            "refund",
            "--from",
            &csv,
            "--journal",
            journal,
            "--concurrency",
            "4",
        ])
        .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("All 30 rows are refunded"),
        "{}",
        run.stdout
    );
    emu.assert_each_refunded_once(&ids).await;
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_of_a_finished_journal_sends_nothing() {
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (ids, csv) = paid_batch(&emu, dir.path(), 6).await;
    let journal = dir.path().join("journal.db");
    let journal = journal.to_str().expect("path");
    let args = ["refund", "--from", &csv, "--journal", journal, "--json"];

    let first = emu.run(&args).await;
    assert_eq!(first.code, Some(0), "{first:?}");
    let sent = emu.refund_requests().await;

    let again = emu.run(&args).await;
    assert_eq!(again.code, Some(0), "{again:?}");
    assert_eq!(emu.refund_requests().await, sent, "the rerun sent requests");
    let summary = &again.json()["summary"];
    assert_eq!(summary["skippedSucceeded"], 6, "{summary}");
    assert_eq!(summary["succeeded"], 0, "{summary}");
    emu.assert_each_refunded_once(&ids).await;
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_rows_are_reported_by_line_and_nothing_is_sent() {
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let id = emu.paid_checkout(1000).await;
    let csv = format!("{id}\n{id},0\n# fine\nnot a checkout id\n{id},12x\n{id},100,stray\n");
    let csv = write_file(dir.path(), "bad.csv", &csv);
    let journal = dir.path().join("journal.db");

    let run = emu
        .run(&[
            "refund",
            "--from",
            &csv,
            "--journal",
            journal.to_str().expect("path"),
        ])
        .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    for line in ["line 2:", "line 4:", "line 5:", "line 6:"] {
        assert!(run.stderr.contains(line), "{line} in {}", run.stderr);
    }
    assert!(!run.stderr.contains("line 1:"), "{}", run.stderr);
    assert_eq!(emu.refund_requests().await, 0);
    assert!(
        !journal.exists(),
        "no journal is created for an invalid file"
    );
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_rows_are_counted_by_kind_exit_1_and_are_not_resent() {
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = emu.paid_checkout(1000).await;
    let csv = format!("{ok}\nch_doesNotExist0000000000\n");
    let csv = write_file(dir.path(), "some-bad.csv", &csv);
    let journal = dir.path().join("journal.db");
    let args = [
        "refund",
        "--from",
        &csv,
        "--journal",
        journal.to_str().expect("path"),
        "--json",
    ];

    let first = emu.run(&args).await;
    assert_eq!(first.code, Some(1), "{first:?}");
    let summary = &first.json()["summary"];
    assert_eq!(summary["succeeded"], 1, "{summary}");
    assert_eq!(summary["failed"]["not_found"], 1, "{summary}");
    let sent = emu.refund_requests().await;

    let again = emu.run(&args).await;
    assert_eq!(
        again.code,
        Some(1),
        "a failed row still fails the batch: {again:?}"
    );
    assert_eq!(again.json()["summary"]["skippedFailed"], 1);
    assert_eq!(
        emu.refund_requests().await,
        sent,
        "failed rows are not re-sent"
    );
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_with_an_unknown_outcome_are_resent_with_their_stored_key() {
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (ids, csv) = paid_batch(&emu, dir.path(), 5).await;
    let journal = dir.path().join("journal.db");
    let args = [
        "refund",
        "--from",
        &csv,
        "--journal",
        journal.to_str().expect("path"),
        "--max-retries",
        "0",
        "--json",
    ];
    // Every refund is made, then its connection is cut before the answer.
    let cut = Faults {
        drop_after: 1.0,
        seed: Some(11),
        ..Faults::default()
    };
    emu.control.set_faults(&cut).await.expect("faults");
    let first = emu.run(&args).await;
    assert_eq!(first.code, Some(1), "{first:?}");
    let first_report = first.json();
    assert_eq!(first_report["summary"]["unknown"], 5, "{first_report}");

    emu.control
        .set_faults(&Faults::default())
        .await
        .expect("faults off");
    let again = emu.run(&args).await;
    assert_eq!(again.code, Some(0), "{again:?}");
    let report = again.json();
    assert_eq!(report["summary"]["succeeded"], 5, "{report}");
    assert_eq!(report["summary"]["replayed"], 5, "{report}");
    assert_eq!(keys_by_line(&report), keys_by_line(&first_report));
    emu.assert_each_refunded_once(&ids).await;
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_killed_midway_and_rerun_refunds_each_checkout_exactly_once() {
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (ids, csv) = paid_batch(&emu, dir.path(), 30).await;
    let journal = dir.path().join("journal.db");
    let journal = journal.to_str().expect("path").to_owned();
    let slow = Faults {
        delay: 1.0,
        delay_ms: 400,
        seed: Some(5),
        ..Faults::default()
    };
    emu.control.set_faults(&slow).await.expect("faults");

    let args = [
        "refund",
        "--from",
        &csv,
        "--journal",
        &journal,
        "--concurrency",
        "2",
    ];
    let mut child = command(&args, &emu.env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn batch");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while emu.ledger().await.len() < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the batch made no progress"
        );
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the batch ended early"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().expect("SIGKILL the batch");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(!status.success());
    let made_before_kill = emu.ledger().await.len();
    assert!(
        made_before_kill < ids.len(),
        "the batch finished before it was killed"
    );

    emu.control
        .set_faults(&Faults::default())
        .await
        .expect("faults off");
    let rerun: Run = emu
        .run(&["refund", "--from", &csv, "--journal", &journal])
        .await;
    assert_eq!(rerun.code, Some(0), "{rerun:?}");
    assert_no_secret(&rerun, &[&emu.secret_key]);
    emu.assert_each_refunded_once(&ids).await;
    emu.stop().await;
}
