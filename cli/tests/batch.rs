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

/// Paid checkouts of 1000 cents, each refunded 100 by its row: a second
/// refund of any row would succeed, so only stable keys keep it at one.
async fn partial_batch(
    emu: &TestEmulator,
    dir: &std::path::Path,
    count: usize,
) -> (Vec<String>, String) {
    let mut ids = Vec::new();
    let mut csv = String::new();
    for n in 0..count {
        let id = emu.paid_checkout(1000).await;
        if n % 2 == 0 {
            csv.push_str(&format!("{id},100\n"));
        } else {
            csv.push_str(&format!("{id},100,order={n}\n"));
        }
        ids.push(id);
    }
    (ids, write_file(dir, "partial.csv", &csv))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_fresh_journals_over_one_file_refund_each_row_once() {
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (ids, csv) = partial_batch(&emu, dir.path(), 8).await;
    let mut reports = Vec::new();
    for name in ["a.db", "b.db", "c.db"] {
        let journal = dir.path().join(name);
        let run = emu
            .run(&[
                "refund",
                "--from",
                &csv,
                "--journal",
                journal.to_str().expect("path"),
                "--json",
            ])
            .await;
        assert_eq!(run.code, Some(0), "{run:?}");
        reports.push(run.json());
    }
    assert_eq!(reports[0]["summary"]["replayed"], 0, "{}", reports[0]);
    for later in &reports[1..] {
        assert_eq!(later["summary"]["replayed"], 8, "{later}");
        assert_eq!(keys_by_line(later), keys_by_line(&reports[0]));
    }
    emu.assert_each_refunded_once(&ids).await;
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_column_is_the_key_sent() {
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let a = emu.paid_checkout(1000).await;
    let b = emu.paid_checkout(1000).await;
    let csv = format!("checkout_id,amount,idempotency_key\n{a},100,order-a-1\n{b},100,\n");
    let csv = write_file(dir.path(), "keys.csv", &csv);
    let journal = dir.path().join("j.db");
    let run = emu
        .run(&[
            "refund",
            "--from",
            &csv,
            "--journal",
            journal.to_str().expect("path"),
            "--json",
        ])
        .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let keys = keys_by_line(&run.json());
    assert_eq!(keys[&2], "order-a-1");
    assert_ne!(keys[&3], "", "a derived key");
    let ledger = emu.control.ledger(Some(&a)).await.expect("ledger");
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["idempotencyKey"], "order-a-1");
    emu.assert_each_refunded_once(&[a, b]).await;
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_failed_resends_rows_that_failed_once_the_cause_is_fixed() {
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let paid = emu.paid_checkout(1000).await;
    let unpaid = emu
        .control
        .create_checkout(1000, None)
        .await
        .expect("checkout")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let csv = write_file(
        dir.path(),
        "rows.csv",
        &format!("{paid},100\n{unpaid},100\n"),
    );
    let journal = dir.path().join("j.db");
    let journal = journal.to_str().expect("path");
    let args = ["refund", "--from", &csv, "--journal", journal, "--json"];

    let first = emu.run(&args).await;
    assert_eq!(first.code, Some(1), "{first:?}");
    assert_eq!(
        first.json()["summary"]["failed"]["invalid_request"],
        1,
        "{}",
        first.stdout
    );
    emu.control.pay(&unpaid).await.expect("pay");

    let plain_rerun = emu.run(&args).await;
    assert_eq!(plain_rerun.code, Some(1), "{plain_rerun:?}");
    assert_eq!(plain_rerun.json()["summary"]["skippedFailed"], 1);
    assert!(emu
        .control
        .ledger(Some(&unpaid))
        .await
        .expect("ledger")
        .is_empty());

    let mut retry = args.to_vec();
    retry.push("--retry-failed");
    let retried = emu.run(&retry).await;
    assert_eq!(retried.code, Some(0), "{retried:?}");
    let report = retried.json();
    assert_eq!(report["summary"]["succeeded"], 1, "{report}");
    assert_eq!(report["summary"]["skippedSucceeded"], 1, "{report}");
    let status = emu
        .run(&["refund", "--status", "--journal", journal, "--json"])
        .await;
    assert_eq!(status.code, Some(0), "{status:?}");
    assert_eq!(status.json()["counts"]["succeeded"], 2, "{}", status.stdout);
    assert_eq!(status.json()["counts"]["total"], 2, "{}", status.stdout);
    emu.assert_each_refunded_once(&[paid, unpaid]).await;
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_line_fails_fast_naming_it_and_sends_nothing() {
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("j.db");
    let run = emu
        .run(&[
            "refund",
            "--from",
            "/dev/zero",
            "--journal",
            journal.to_str().expect("path"),
        ])
        .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("line 1: is longer than 64 KiB"),
        "{}",
        run.stderr
    );
    assert_eq!(emu.refund_requests().await, 0);
    assert!(!journal.exists());

    let id = emu.paid_checkout(1000).await;
    let long = format!("{id}\n{}", "x".repeat(300_000));
    let csv = write_file(dir.path(), "long.csv", &long);
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
    assert!(
        run.stderr.contains("line 2: is longer than 64 KiB"),
        "{}",
        run.stderr
    );
    assert_eq!(emu.refund_requests().await, 0);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_row_is_refused_by_line_before_anything_is_sent() {
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let id = emu.paid_checkout(1000).await;
    let csv = write_file(
        dir.path(),
        "dup.csv",
        &format!("{id},100\n{id},200\n{id},100\n"),
    );
    let journal = dir.path().join("j.db");
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
    assert!(
        run.stderr
            .contains("line 3: same checkout, amount and metadata as line 1"),
        "{}",
        run.stderr
    );
    assert_eq!(emu.refund_requests().await, 0);
    emu.stop().await;
}

/// A server that accepts every refund with `202` but status `failed`, as
/// the real service may; the emulator never answers so.
async fn failed_status_server() -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::Path;
    use axum::http::StatusCode;
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/api/checkouts/{id}/refund",
        post(|Path(id): Path<String>| async move {
            (
                StatusCode::ACCEPTED,
                axum::Json(serde_json::json!({
                    "id": id,
                    "refundId": format!("rfd_{id}"),
                    "message": "Refund failed",
                    "status": "failed",
                })),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_refund_whose_status_is_failed_is_not_counted_as_refunded() {
    let (url, server) = failed_status_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = write_file(dir.path(), "rows.csv", "ch_one,100\nch_two\n");
    let journal = dir.path().join("j.db");
    let key = common::live_key();
    let env = [
        ("REFUNDKIT_SECRET_KEY", key.as_str()),
        ("REFUNDKIT_BASE_URL", url.as_str()),
    ];
    let args = [
        "refund",
        "--from",
        &csv,
        "--journal",
        journal.to_str().expect("path"),
    ];
    let text = common::run_cli(&args, &env, &[&key]).await;
    assert_eq!(text.code, Some(1), "{text:?}");
    assert!(
        !text.stdout.contains("All 2 rows are refunded"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("2 of 2 rows are not refunded"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("refund status \"failed\""),
        "{}",
        text.stdout
    );

    let conn = rusqlite::Connection::open(&journal).expect("journal");
    let states: Vec<(String, Option<String>)> = conn
        .prepare("SELECT state, refund_status FROM refunds ORDER BY line")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("states");
    assert_eq!(
        states,
        vec![("failed".to_owned(), Some("failed".to_owned())); 2]
    );
    server.abort();
}

/// A journal left by refundkit before schema version 3 (a `WITHOUT ROWID`
/// table): some rows refunded, some pending with stored keys, one of which
/// was sent before the crash. The current binary migrates it and resumes:
/// refunded rows are skipped, pending rows are sent with their stored keys
/// (the one already sent is replayed), and each checkout is refunded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_2_journal_is_migrated_and_resumed_with_its_stored_keys() {
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (ids, csv) = paid_batch(&emu, dir.path(), 6).await;
    let rows: Vec<_> =
        refundkit_cli::csv_rows::RowReader::new(std::fs::read(&csv).expect("csv").as_slice())
            .collect::<Result<_, _>>()
            .expect("rows");
    let journal = dir.path().join("journal.db");
    let client = refundkit::Client::builder(&emu.secret_key)
        .base_url(&emu.base_url)
        .build()
        .expect("client");
    {
        let conn = rusqlite::Connection::open(&journal).expect("journal");
        conn.execute_batch(include_str!("../migrations/sqlite/0001_init.sql"))
            .expect("0001");
        conn.execute_batch(include_str!("../migrations/sqlite/0002_runs.sql"))
            .expect("0002");
        conn.pragma_update(None, "user_version", 2)
            .expect("version");
        for (n, row) in rows.iter().enumerate() {
            let key = format!("old-key-{n}");
            // Rows 0-2 were refunded by the earlier run, row 3 was sent
            // but its outcome never recorded, rows 4-5 were never sent.
            let state = if n < 3 { "succeeded" } else { "pending" };
            if n <= 3 {
                let mut request = row.request.clone();
                request.idempotency_key = Some(key.clone());
                client.refund(request).await.expect("earlier refund");
            }
            conn.execute(
                "INSERT INTO refunds (checkout_id, row_key, line, amount, metadata,
                                      idempotency_key, state, seen_run)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)",
                rusqlite::params![
                    row.request.checkout_id,
                    row.row_key,
                    row.line as i64,
                    row.request.amount,
                    row.request
                        .metadata
                        .as_ref()
                        .map(|m| serde_json::json!(m).to_string()),
                    key,
                    state,
                ],
            )
            .expect("old row");
        }
    }

    let run = emu
        .run(&[
            "refund",
            "--from",
            &csv,
            "--journal",
            journal.to_str().expect("path"),
            "--json",
        ])
        .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let report = run.json();
    assert_eq!(report["summary"]["skippedSucceeded"], 3, "{report}");
    assert_eq!(report["summary"]["succeeded"], 3, "{report}");
    assert_eq!(report["summary"]["replayed"], 1, "{report}");
    let sent: HashMap<u64, String> = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["outcome"] == "succeeded")
        .map(|r| {
            let line = r["line"].as_u64().expect("line");
            (line, r["idempotencyKey"].as_str().expect("key").to_owned())
        })
        .collect();
    for (n, row) in rows.iter().enumerate().skip(3) {
        assert_eq!(
            sent.get(&row.line),
            Some(&format!("old-key-{n}")),
            "{report}"
        );
    }
    emu.assert_each_refunded_once(&ids).await;

    let conn = rusqlite::Connection::open(&journal).expect("journal");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(version, 3);
    let (rows_kept, succeeded, with_rowid): (i64, i64, i64) = conn
        .query_row(
            "SELECT count(*), count(*) FILTER (WHERE state = 'succeeded'), count(rowid)
             FROM refunds",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("migrated rows");
    assert_eq!((rows_kept, succeeded, with_rowid), (6, 6, 6));
    emu.stop().await;
}
