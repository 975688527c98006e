//! `refundkit refund --from FILE.csv --journal postgres://…`: many workers
//! share one run on a real PostgreSQL server (started by
//! `scripts/test-postgres`, which sets `REFUNDKIT_TEST_POSTGRES_URL`), and
//! the emulator's ledger shows every row refunded exactly once, whatever
//! the faults, kills, lease expiries and database restarts.

mod common;

use std::process::Child;
use std::time::Duration;

use common::{command, write_file, TestEmulator};
use futures::stream::{self, StreamExt as _};
use rand::{Rng as _, SeedableRng as _};
use refundkit_emulator::Faults;
use serde_json::Value;

/// The server's URL, or `None` (with a loud note) outside CI; in CI a
/// missing server is a failure, never a silent skip.
fn server_url() -> Option<String> {
    match std::env::var("REFUNDKIT_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") => panic!(
            "REFUNDKIT_TEST_POSTGRES_URL is not set: run the tests through \
             scripts/test-postgres (scripts/test does)"
        ),
        _ => {
            eprintln!(
                "SKIPPED: REFUNDKIT_TEST_POSTGRES_URL is not set; run \
                 `scripts/test-postgres cargo test -p refundkit-cli --test batch_postgres`"
            );
            None
        }
    }
}

/// A fresh, empty database on the test server; returns its URL.
async fn fresh_database(server: &str, label: &str) -> String {
    let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls)
        .await
        .expect("connect to the test server");
    let task = tokio::spawn(connection);
    let tag: u32 = rand::random();
    let name = format!("rk_{label}_{tag:08x}");
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    drop(client);
    let _ = task.await;
    let (base, _) = server.rsplit_once('/').expect("URL with a database");
    format!("{base}/{name}")
}

/// A client of the database at `url`.
async fn db(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

/// `count` paid checkouts (made 32 at a time) and a CSV refunding 100 cents
/// of each, so that a second refund of any row would go through.
async fn paid_rows(
    emu: &TestEmulator,
    dir: &std::path::Path,
    count: usize,
) -> (Vec<String>, String) {
    let ids: Vec<String> = stream::iter(0..count)
        .map(|_| emu.paid_checkout(1000))
        .buffered(32)
        .collect()
        .await;
    let mut csv = String::from("checkout_id,amount\n");
    for (n, id) in ids.iter().enumerate() {
        csv.push_str(&format!("{id},{}\n", 100 + n % 7));
    }
    let path = write_file(dir, "rows.csv", &csv);
    (ids, path)
}

/// A worker process; what it prints goes to a temp file.
struct Worker {
    child: Child,
    output: std::fs::File,
}

/// Starts one worker.
fn worker(emu: &TestEmulator, csv: &str, url: &str, extra: &[&str]) -> Worker {
    let mut args = vec![
        "refund",
        "--from",
        csv,
        "--journal",
        url,
        "--run",
        "test-run",
    ];
    args.extend_from_slice(extra);
    let output = tempfile::tempfile().expect("temp file");
    let child = command(&args, &emu.env())
        .stdout(output.try_clone().expect("clone"))
        .stderr(output.try_clone().expect("clone"))
        .spawn()
        .expect("spawn worker");
    Worker { child, output }
}

/// Waits for a worker off the async runtime: its exit code (None if
/// killed) and everything it printed.
async fn wait(worker: Worker) -> (Option<i32>, String) {
    let Worker {
        mut child,
        mut output,
    } = worker;
    tokio::task::spawn_blocking(move || {
        let status = child.wait().expect("wait");
        let mut printed = String::new();
        std::io::Seek::rewind(&mut output).expect("rewind");
        let _ = std::io::Read::read_to_string(&mut output, &mut printed);
        (status.code(), printed)
    })
    .await
    .expect("join")
}

/// Sends a signal (`STOP`, `CONT`) to a worker.
fn signal(worker: &Worker, name: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{name}"), worker.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name}");
}

/// `--status --json` of the run.
async fn status(emu: &TestEmulator, url: &str) -> Value {
    let run = emu
        .run(&[
            "refund",
            "--status",
            "--journal",
            url,
            "--run",
            "test-run",
            "--json",
        ])
        .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    run.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_killed_at_random_under_faults_refund_each_row_exactly_once() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "kills").await;
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (ids, csv) = paid_rows(&emu, dir.path(), 10_000).await;
    let faults = Faults {
        drop_before: 0.02,
        drop_after: 0.02,
        error_5xx: 0.02,
        seed: Some(13),
        ..Faults::default()
    };
    emu.control.set_faults(&faults).await.expect("faults");
    let args = ["--lease", "2s", "--concurrency", "16", "--max-retries", "1"];
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let mut workers: Vec<Option<Worker>> = (0..4)
        .map(|_| Some(worker(&emu, &csv, &url, &args)))
        .collect();
    let mut kills = 0;
    let mut finished = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    while !finished {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run never finished"
        );
        tokio::time::sleep(Duration::from_millis(rng.gen_range(150..600))).await;
        if kills < 8 && emu.refund_requests().await > 0 {
            let slot = rng.gen_range(0..workers.len());
            if let Some(mut worker) = workers[slot].take() {
                if worker.child.try_wait().expect("try_wait").is_none() {
                    worker.child.kill().expect("SIGKILL");
                    kills += 1;
                }
                let _ = wait(worker).await;
            }
        }
        for slot in &mut workers {
            let exited = match slot {
                Some(worker) => worker.child.try_wait().expect("try_wait"),
                None => None,
            };
            match (slot.is_some(), exited) {
                (true, None) => {}
                (true, Some(status)) if status.success() => finished = true,
                _ => {
                    if let Some(worker) = slot.take() {
                        let (_, printed) = wait(worker).await;
                        assert!(!printed.contains(&emu.secret_key), "secret in {printed}");
                    }
                    if !finished {
                        *slot = Some(worker(&emu, &csv, &url, &args));
                    }
                }
            }
        }
    }
    for worker in workers.into_iter().flatten() {
        let (code, printed) = wait(worker).await;
        assert!(matches!(code, Some(0 | 1)), "{code:?} {printed}");
    }
    assert!(kills >= 4, "only {kills} kills landed");
    emu.control
        .set_faults(&Faults::default())
        .await
        .expect("faults off");
    emu.assert_each_refunded_once(&ids).await;
    let report = status(&emu, &url).await;
    assert_eq!(report["counts"]["succeeded"], 10_000, "{report}");
    // Workers killed before they joined the run are not listed.
    assert!(report["workers"].as_array().expect("workers").len() >= 4);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_starts_import_the_file_once() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "first").await;
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (ids, csv) = paid_rows(&emu, dir.path(), 600).await;
    let workers: Vec<Worker> = (0..4).map(|_| worker(&emu, &csv, &url, &[])).collect();
    let mut codes = Vec::new();
    for worker in workers {
        codes.push(wait(worker).await);
    }
    assert!(codes.iter().any(|(code, _)| *code == Some(0)), "{codes:?}");
    let client = db(&url).await;
    let runs = client
        .query("SELECT rows FROM refundkit_runs", &[])
        .await
        .expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].get::<_, i64>(0), 600);
    let rows: i64 = client
        .query_one("SELECT count(*) FROM refundkit_rows", &[])
        .await
        .expect("rows")
        .get(0);
    assert_eq!(rows, 600);
    let migrations: i64 = client
        .query_one("SELECT count(*) FROM refundkit_migrations", &[])
        .await
        .expect("migrations")
        .get(0);
    // Each of the three migrations, once.
    assert_eq!(migrations, 3);
    emu.assert_each_refunded_once(&ids).await;
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_whose_lease_ends_in_flight_is_taken_over_and_refunded_once() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "lease").await;
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (ids, csv) = paid_rows(&emu, dir.path(), 6).await;
    // Every request waits 3 s at the emulator, three times the lease.
    let slow = Faults {
        delay: 1.0,
        delay_ms: 3000,
        seed: Some(1),
        ..Faults::default()
    };
    emu.control.set_faults(&slow).await.expect("faults");
    let lease = ["--lease", "1s"];
    let stalled = worker(&emu, &csv, &url, &lease);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while emu.refund_requests().await < 6 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no requests arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The worker stalls with all six requests in flight: no heartbeat.
    signal(&stalled, "STOP");
    emu.control
        .set_faults(&Faults::default())
        .await
        .expect("faults off");
    // Its retries of the service's 409 (the first request is still being
    // processed) outlast the stalled worker's 3 s requests.
    let taker = worker(&emu, &csv, &url, &["--lease", "1s", "--max-retries", "6"]);
    let (code, taker_printed) = wait(taker).await;
    signal(&stalled, "CONT");
    let (stalled_code, stalled_printed) = wait(stalled).await;
    assert_eq!(code, Some(0), "taker: {taker_printed}");
    assert_eq!(stalled_code, Some(0), "stalled: {stalled_printed}");
    assert!(taker_printed.contains("replayed"), "{taker_printed}");
    // The taker re-sent every row (with the stored keys: one refund each).
    assert!(emu.refund_requests().await >= 12);
    emu.assert_each_refunded_once(&ids).await;
    let report = status(&emu, &url).await;
    assert_eq!(report["counts"]["succeeded"], 6, "{report}");
    let taken_over: i64 = db(&url)
        .await
        .query_one(
            "SELECT count(*) FROM refundkit_rows WHERE last_worker IS NOT NULL",
            &[],
        )
        .await
        .expect("rows")
        .get(0);
    assert_eq!(taken_over, 6);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_survive_a_database_restart_mid_run() {
    let Some(server) = server_url() else { return };
    let restart = std::env::var("REFUNDKIT_TEST_POSTGRES_RESTART")
        .expect("scripts/test-postgres sets REFUNDKIT_TEST_POSTGRES_RESTART");
    let url = fresh_database(&server, "restart").await;
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (ids, csv) = paid_rows(&emu, dir.path(), 1500).await;
    // Slow enough that the restart lands mid-run.
    let slow = Faults {
        delay: 1.0,
        delay_ms: 20,
        seed: Some(2),
        ..Faults::default()
    };
    emu.control.set_faults(&slow).await.expect("faults");
    let args = ["--lease", "5s", "--concurrency", "8"];
    let workers: Vec<Worker> = (0..2).map(|_| worker(&emu, &csv, &url, &args)).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while emu.ledger().await.len() < 150 {
        assert!(tokio::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let restarted = tokio::task::spawn_blocking(move || {
        std::process::Command::new(restart)
            .status()
            .expect("restart")
    })
    .await
    .expect("join");
    assert!(restarted.success());
    assert!(
        emu.ledger().await.len() < ids.len(),
        "the run ended before the restart"
    );
    for worker in workers {
        let (code, printed) = wait(worker).await;
        assert_eq!(code, Some(0), "{printed}");
    }
    emu.assert_each_refunded_once(&ids).await;
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_failed_and_status_work_on_postgres() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "retry").await;
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
    let args = [
        "refund",
        "--from",
        &csv,
        "--journal",
        &url,
        "--run",
        "test-run",
        "--json",
    ];
    let first = emu.run(&args).await;
    assert_eq!(first.code, Some(1), "{first:?}");
    let report = status(&emu, &url).await;
    assert_eq!(report["counts"]["succeeded"], 1, "{report}");
    assert_eq!(report["counts"]["failed"], 1, "{report}");
    assert_eq!(report["workers"][0]["sent"], 2, "{report}");

    emu.control.pay(&unpaid).await.expect("pay");
    let again = emu.run(&args).await;
    assert_eq!(
        again.code,
        Some(1),
        "failed rows wait for --retry-failed: {again:?}"
    );
    let mut retry = args.to_vec();
    retry.push("--retry-failed");
    let retried = emu.run(&retry).await;
    assert_eq!(retried.code, Some(0), "{retried:?}");
    assert_eq!(retried.json()["summary"]["run"]["succeeded"], 2);
    emu.assert_each_refunded_once(&[paid, unpaid]).await;
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_wrong_passwords_and_unreachable_servers_fail_before_sending() {
    let Some(server) = server_url() else { return };
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, csv) = paid_rows(&emu, dir.path(), 2).await;
    let (userinfo, rest) = server
        .trim_start_matches("postgres://")
        .split_once('@')
        .expect("user@host");
    let (user, password) = userinfo.split_once(':').expect("user:password");
    let wrong = format!("postgres://{user}:not-{password}@{rest}");
    let cases = [
        (
            "postgres://u:pw@127.0.0.1:notaport/db",
            2,
            "invalid PostgreSQL URL",
        ),
        ("postgres://", 2, "names no host"),
        (wrong.as_str(), 1, "password authentication failed"),
        ("postgres://u:pw@127.0.0.1:1/db", 1, "Connection refused"),
    ];
    for (url, code, message) in cases {
        let run = common::run_cli(
            &["refund", "--from", &csv, "--journal", url],
            &emu.env(),
            &[&emu.secret_key, password],
        )
        .await;
        assert_eq!(run.code, Some(code), "{url}: {run:?}");
        assert!(run.stderr.contains(message), "{url}: {}", run.stderr);
    }
    assert_eq!(emu.refund_requests().await, 0);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_rows_and_reused_keys_are_refused_and_nothing_is_imported() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "dups").await;
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (emu.paid_checkout(1000).await, emu.paid_checkout(1000).await);
    // Line 4 repeats line 2; line 5 reuses line 3's key for another refund.
    let csv = write_file(
        dir.path(),
        "dups.csv",
        &format!(
            "checkout_id,amount,idempotency_key\n{a},100,key-a\n{b},100,key-b\n\
             {a},100,key-a\n{b},200,key-b\n"
        ),
    );
    let run = emu
        .run(&[
            "refund",
            "--from",
            &csv,
            "--journal",
            &url,
            "--run",
            "test-run",
        ])
        .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr
            .contains("line 4: same checkout, amount and metadata as line 2"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("line 5: its idempotency key is already used by line 3"),
        "{}",
        run.stderr
    );
    assert_eq!(emu.refund_requests().await, 0);
    let client = db(&url).await;
    for table in ["refundkit_runs", "refundkit_rows", "refundkit_ranges"] {
        let count: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .expect("count")
            .get(0);
        assert_eq!(count, 0, "{table}: the import is rolled back");
    }
    emu.stop().await;
}

/// The SHA-256 of `text`, hex: a run's default name and its file's check.
fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_left_by_schema_version_2_is_migrated_and_finished_once() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "upgrade").await;
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ids: Vec<String> = stream::iter(0..600)
        .map(|_| emu.paid_checkout(1000))
        .buffered(32)
        .collect()
        .await;
    // Keys of the file's own, so that the journal written below holds the
    // keys this version sends.
    let mut text = String::from("checkout_id,amount,idempotency_key\n");
    for (n, id) in ids.iter().enumerate() {
        text.push_str(&format!("{id},100,upgrade-{n}\n"));
    }
    let csv = write_file(dir.path(), "rows.csv", &text);
    // A version-2 journal in the middle of the run: rows 0-99 refunded and
    // recorded, rows 100-149 refunded by a worker that still holds them
    // (their outcome not recorded), the rest never sent.
    let client = db(&url).await;
    client
        .batch_execute(include_str!("../migrations/postgres/0001_init.sql"))
        .await
        .expect("schema 1");
    client
        .batch_execute(include_str!("../migrations/postgres/0002_fillfactor.sql"))
        .await
        .expect("schema 2");
    client
        .batch_execute(
            "CREATE TABLE refundkit_migrations (
                 version INTEGER PRIMARY KEY, name TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
             INSERT INTO refundkit_migrations (version, name)
             VALUES (1, 'init'), (2, 'fillfactor');",
        )
        .await
        .expect("migrations");
    client
        .execute(
            "INSERT INTO refundkit_runs (run, csv_sha256, rows) VALUES ('test-run', $1, 600)",
            &[&sha256_hex(&text)],
        )
        .await
        .expect("run");
    client
        .execute(
            "INSERT INTO refundkit_rows
                 (run, line, checkout_id, amount, row_digest, idempotency_key, state,
                  worker, lease_until)
             SELECT 'test-run', n + 2, id, 100, 'digest-' || n, 'upgrade-' || n,
                    CASE WHEN n < 100 THEN 'succeeded' ELSE 'pending' END,
                    CASE WHEN n BETWEEN 100 AND 149 THEN 'old-worker' END,
                    CASE WHEN n BETWEEN 100 AND 149 THEN now() + interval '1 hour' END
             FROM unnest($1::text[]) WITH ORDINALITY AS u(id, o), LATERAL (SELECT o - 1 AS n) k",
            &[&ids],
        )
        .await
        .expect("rows");
    for (n, id) in ids.iter().enumerate().take(150) {
        let key = format!("upgrade-{n}");
        let sent = emu
            .run(&["refund", id, "--amount", "100", "--idempotency-key", &key])
            .await;
        assert_eq!(sent.code, Some(0), "{sent:?}");
    }
    let (code, printed) = wait(worker(&emu, &csv, &url, &["--concurrency", "16"])).await;
    assert_eq!(code, Some(0), "{printed}");
    // Rows 100-149 were re-sent with their keys and replayed.
    assert!(printed.contains("50 of them replayed"), "{printed}");
    emu.assert_each_refunded_once(&ids).await;
    let report = status(&emu, &url).await;
    assert_eq!(report["counts"]["succeeded"], 600, "{report}");
    let row = client
        .query_one(
            "SELECT (SELECT max(version) FROM refundkit_migrations),
                    (SELECT count(*) FROM refundkit_ranges),
                    (SELECT bool_and(done) FROM refundkit_ranges)",
            &[],
        )
        .await
        .expect("schema");
    assert_eq!(row.get::<_, i32>(0), 3);
    assert!(row.get::<_, i64>(1) >= 3, "ranges over 600 lines");
    assert!(row.get::<_, bool>(2), "every range is done");
    // Deleting a run still deletes its rows and ranges.
    client
        .execute("DELETE FROM refundkit_runs WHERE run = 'test-run'", &[])
        .await
        .expect("delete run");
    let left: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM refundkit_rows)
                    + (SELECT count(*) FROM refundkit_ranges)",
            &[],
        )
        .await
        .expect("left")
        .get(0);
    assert_eq!(left, 0);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_rows_vanish_mid_run_ends_in_an_error_not_a_success() {
    let Some(server) = server_url() else { return };
    let url = fresh_database(&server, "lost").await;
    let emu = TestEmulator::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, csv) = paid_rows(&emu, dir.path(), 40).await;
    // Slow enough that the rows are deleted mid-run, as a database crash
    // that lost the import's asynchronous commit would lose them.
    let slow = Faults {
        delay: 1.0,
        delay_ms: 200,
        seed: Some(3),
        ..Faults::default()
    };
    emu.control.set_faults(&slow).await.expect("faults");
    let running = worker(&emu, &csv, &url, &["--concurrency", "2"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while emu.refund_requests().await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "nothing sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    db(&url)
        .await
        .batch_execute("DELETE FROM refundkit_ranges; DELETE FROM refundkit_rows;")
        .await
        .expect("delete rows");
    let (code, printed) = wait(running).await;
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("the database lost them"), "{printed}");
    emu.stop().await;
}
