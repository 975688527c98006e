//! Shared helpers of the CLI's black-box tests: run the built binary,
//! start a real emulator, make paid checkouts, read the emulator's counters.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use refundkit_emulator::{ControlClient, Emulator, EmulatorConfig};
use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_refundkit");

/// A fresh, well-formed live secret key.
pub fn live_key() -> String {
    format!(
        "sk_live_{}",
        refundkit::policy::new_idempotency_key().replace('-', "")
    )
}

/// What one run of the binary printed and how it exited.
#[derive(Debug)]
pub struct Run {
    /// The exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl Run {
    /// stdout parsed as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", self.stdout))
    }
}

/// A command for the binary with no inherited `REFUNDKIT_*` variables.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("REFUNDKIT_SECRET_KEY")
        .env_remove("REFUNDKIT_BASE_URL")
        .env_remove("REFUNDKIT_WEBHOOK_SECRET")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs the binary to completion off the async runtime, and checks that
/// none of `secrets` appears in anything it printed.
pub async fn run_cli(args: &[&str], env: &[(&str, &str)], secrets: &[&str]) -> Run {
    let mut cmd = command(args, env);
    let output: Output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("the binary runs");
    let run = Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_no_secret(&run, secrets);
    run
}

/// Fails if the run printed any control character other than a newline
/// (ESC, CSI, OSC terminators, CR, BEL, DEL, C1 controls…).
pub fn assert_no_control_chars(run: &Run) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let found: Vec<char> = text
            .chars()
            .filter(|c| c.is_control() && *c != '\n')
            .collect();
        assert!(
            found.is_empty(),
            "{name} holds control characters {found:?}:\n{text}"
        );
    }
}

/// Fails if any of `secrets` appears in the run's output.
pub fn assert_no_secret(run: &Run, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "a secret leaked into the output:\n{run:?}"
        );
    }
}

/// A real emulator in this process, with fast webhook retries.
pub struct TestEmulator {
    pub emulator: Emulator,
    pub base_url: String,
    pub secret_key: String,
    pub control: ControlClient,
}

impl TestEmulator {
    pub async fn start() -> Self {
        let config = EmulatorConfig {
            webhook_time_scale: 0.001,
            ..EmulatorConfig::default()
        };
        let emulator = Emulator::start(config).await.expect("emulator starts");
        let base_url = emulator.base_url();
        let secret_key = live_key();
        let control = ControlClient::new(&base_url, &secret_key);
        Self {
            emulator,
            base_url,
            secret_key,
            control,
        }
    }

    /// `REFUNDKIT_SECRET_KEY` and `REFUNDKIT_BASE_URL` for this emulator.
    pub fn env(&self) -> [(&'static str, &str); 2] {
        [
            ("REFUNDKIT_SECRET_KEY", self.secret_key.as_str()),
            ("REFUNDKIT_BASE_URL", self.base_url.as_str()),
        ]
    }

    /// Runs the binary against this emulator.
    pub async fn run(&self, args: &[&str]) -> Run {
        run_cli(args, &self.env(), &[&self.secret_key]).await
    }

    /// A paid live checkout of `amount` cents; returns its id.
    pub async fn paid_checkout(&self, amount: i64) -> String {
        self.paid_checkout_with(amount, &[]).await
    }

    /// A paid live checkout of `amount` cents with `metadata` (which may
    /// hold the emulator's `emulator.*` settings); returns its id.
    pub async fn paid_checkout_with(&self, amount: i64, metadata: &[(&str, &str)]) -> String {
        let metadata = (!metadata.is_empty()).then(|| {
            metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        });
        let checkout = self
            .control
            .create_checkout(amount, metadata)
            .await
            .expect("create checkout");
        let id = checkout["id"].as_str().expect("checkout id").to_owned();
        self.control.pay(&id).await.expect("pay");
        id
    }

    /// How many refund requests reached the emulator so far.
    pub async fn refund_requests(&self) -> u64 {
        let stats = self.control.stats().await.expect("stats");
        stats["refundRequests"]
            .as_u64()
            .expect("refundRequests counter")
    }

    /// The ledger: every refund actually made.
    pub async fn ledger(&self) -> Vec<Value> {
        self.control.ledger(None).await.expect("ledger")
    }

    /// Asserts that each of `checkouts` was refunded exactly once, that
    /// nothing else was refunded, and that no idempotency key made two refunds.
    pub async fn assert_each_refunded_once(&self, checkouts: &[String]) {
        let ledger = self.ledger().await;
        let mut per_checkout: HashMap<String, usize> = HashMap::new();
        let mut per_key: HashMap<String, usize> = HashMap::new();
        for entry in &ledger {
            let checkout = entry["checkoutId"].as_str().expect("ledger checkoutId");
            *per_checkout.entry(checkout.to_owned()).or_default() += 1;
            if let Some(key) = entry["idempotencyKey"].as_str() {
                *per_key.entry(key.to_owned()).or_default() += 1;
            }
        }
        for id in checkouts {
            assert_eq!(per_checkout.get(id), Some(&1), "{id} in ledger {ledger:#?}");
        }
        assert_eq!(ledger.len(), checkouts.len(), "ledger {ledger:#?}");
        assert!(
            per_key.values().all(|&n| n == 1),
            "a key was used twice: {per_key:#?}"
        );
    }

    pub async fn stop(self) {
        self.emulator.shutdown().await;
    }
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path.to_str().expect("utf-8 path").to_owned()
}

/// A running child of the binary that announced `listening on URL`.
pub struct Announced {
    pub child: std::process::Child,
    pub url: String,
    /// What it prints after the announcement.
    pub rest_of_stdout: std::io::BufReader<std::process::ChildStdout>,
}

/// Spawns the binary with `args` and `env` and waits for its
/// `listening on URL` line.
pub async fn spawn_announcing(args: &[&str], env: &[(&str, &str)]) -> Announced {
    use std::io::{BufRead as _, BufReader};
    let mut cmd = command(args, env);
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("spawn the binary");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the first line");
        let url = line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Announced {
            child,
            url,
            rest_of_stdout: stdout,
        }
    })
    .await
    .expect("join")
}
