//! Crash safety of the batch journal: SIGKILL `refundkit refund --from` at
//! random points, twenty times over, rerunning until it finishes; every
//! checkout is refunded exactly once.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{command, TestEmulator};
use rand::{Rng as _, SeedableRng as _};
use refundkit_emulator::Faults;

const RUNS: u64 = 20;
const ROWS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_never_refunds_twice_or_loses_a_row() {
    let mut kills = 0;
    for run in 0..RUNS {
        let mut rng = rand::rngs::StdRng::seed_from_u64(run);
        let emu = TestEmulator::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ids = Vec::new();
        let mut csv = String::new();
        for n in 0..ROWS {
            let id = emu.paid_checkout(1000).await;
            csv.push_str(&format!("{id},{}\n", 100 + n));
            ids.push(id);
        }
        let csv_path = common::write_file(dir.path(), "rows.csv", &csv);
        let journal = dir.path().join("journal.db");
        let journal = journal.to_str().expect("path").to_owned();
        // Slow and faulty, so kills land before, during and after requests,
        // and some answers are lost after the refund was committed.
        let faults = Faults {
            delay: 0.5,
            delay_ms: 60,
            drop_after: 0.15,
            error_5xx: 0.1,
            seed: Some(run),
            ..Faults::default()
        };
        emu.control.set_faults(&faults).await.expect("faults");
        let args = [
            "refund",
            "--from",
            &csv_path,
            "--journal",
            &journal,
            "--concurrency",
            "3",
        ];
        let mut finished = false;
        for attempt in 0..12 {
            let mut child = command(&args, &emu.env())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn batch");
            // Kill the first few runs at a random point; let later ones finish.
            if attempt < 3 {
                let after = Duration::from_millis(rng.gen_range(0..400));
                tokio::time::sleep(after).await;
                if child.try_wait().expect("try_wait").is_none() {
                    child.kill().expect("SIGKILL");
                    kills += 1;
                }
            }
            let status = tokio::task::spawn_blocking(move || child.wait())
                .await
                .expect("join")
                .expect("wait");
            if status.success() {
                finished = true;
                break;
            }
        }
        assert!(finished, "run {run}: the batch never finished");
        emu.assert_each_refunded_once(&ids).await;
        emu.stop().await;
    }
    assert!(kills >= RUNS, "only {kills} kills landed mid-run");
}
