//! What the relay costs: refunds/s, p50 and p99 of one-cent refunds made
//! by `refundkit::Client` straight to the emulator (secret key) and through
//! `refundkit relay` (token mode, an HS256 JWT), at concurrency 1 and 64,
//! plus the relay's RSS. Not a test: nothing is asserted.
//!
//! `scripts/bench-relay` builds the release binary and runs this; by hand:
//! `cargo bench -p refundkit-relay --bench relay_overhead -- --bin target/release/refundkit`
//! (`--quick` for short runs).
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::stream::{self, StreamExt, TryStreamExt};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use refundkit::{Client, RefundRequest};
use refundkit_emulator::ControlClient;
use serde_json::json;

const SECRET: &str = "sk_live_benchrelay0123456789abcdef";
const JWT_ENV: &str = "RELAY_BENCH_JWT_SECRET";
const JWT_SECRET: &str = "relay-bench-jwt-secret-0123456789abcdefgh";

/// A child process of the `refundkit` binary that announced its URL.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn spawn(bin: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut cmd = Command::new(bin);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
        let url = line
            .trim_end()
            .strip_prefix("listening on ")
            .ok_or_else(|| anyhow::anyhow!("unexpected first line {line:?}"))?
            .to_owned();
        Ok(Self { child, url })
    }

    /// VmRSS and VmHWM, in KiB.
    fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// One side: a `refundkit::Client` and what the table calls it.
struct Caller {
    name: &'static str,
    client: Client,
}

impl Caller {
    async fn call(&self, checkout: &str) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.client
            .refund(RefundRequest::new(checkout).amount(1))
            .await?;
        Ok(started.elapsed())
    }

    /// `n` calls, `concurrency` at a time; each call's latency. A failed
    /// call ends the run: a figure that includes errors means nothing.
    async fn run(
        &self,
        checkout: &str,
        n: usize,
        concurrency: usize,
    ) -> anyhow::Result<Vec<Duration>> {
        stream::iter(0..n)
            .map(|_| self.call(checkout))
            .buffer_unordered(concurrency)
            .try_collect()
            .await
    }
}

struct Series {
    name: &'static str,
    concurrency: usize,
    calls: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Series {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[at]
    }
}

async fn series(
    caller: &Caller,
    checkout: &str,
    calls: usize,
    concurrency: usize,
) -> anyhow::Result<Series> {
    caller
        .run(checkout, concurrency.max(50), concurrency)
        .await?;
    let started = Instant::now();
    let latencies = caller.run(checkout, calls, concurrency).await?;
    Ok(Series {
        name: caller.name,
        concurrency,
        calls,
        elapsed: started.elapsed(),
        latencies,
    })
}

fn token() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "iss": "https://auth.example.com",
        "aud": "refundkit-relay",
        "sub": "bench-cashier",
        "roles": ["bench"],
        "exp": now + 3600,
    });
    let key = EncodingKey::from_secret(JWT_SECRET.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let bin = args
        .iter()
        .position(|a| a == "--bin")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/refundkit").to_owned()
        });
    let (c1_calls, c64_calls) = if quick { (300, 3_000) } else { (3_000, 30_000) };

    let dir = tempfile::tempdir()?;
    let auth = dir.path().join("auth.toml");
    std::fs::write(
        &auth,
        format!(
            "[jwt]\nissuer = \"https://auth.example.com\"\naudience = \"refundkit-relay\"\n\
             hs256_secret_env = \"{JWT_ENV}\"\n\n[[roles]]\nname = \"bench\"\n"
        ),
    )?;
    let journal = dir.path().join("relay.db");
    let emulator = Server::spawn(&bin, &["emulator", "--port", "0"], &[])?;
    let relay = Server::spawn(
        &bin,
        &[
            "relay",
            "--upstream",
            &emulator.url,
            "--auth",
            auth.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ],
        &[("REFUNDKIT_SECRET_KEY", SECRET), (JWT_ENV, JWT_SECRET)],
    )?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let rows = runtime.block_on(async {
        let control = ControlClient::new(&emulator.url, SECRET);
        let checkout = control.create_checkout(1_000_000_000_000, None).await?;
        let checkout = checkout["id"].as_str().unwrap().to_owned();
        control.pay(&checkout).await?;
        let direct = Caller {
            name: "refundkit::Client → emulator",
            client: Client::builder(SECRET).base_url(&emulator.url).build()?,
        };
        let token = token();
        let relayed = Caller {
            name: "refundkit::Client (token mode) → relay → emulator",
            client: Client::builder_for_relay(&relay.url, move |_force_refresh: bool| {
                let token = token.clone();
                async move { Ok(token) }
            })
            .build()?,
        };
        let mut rows = Vec::new();
        for (calls, concurrency) in [(c1_calls, 1), (c64_calls, 64)] {
            // Three alternating rounds each; the median round by rate is kept.
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for _ in 0..3 {
                ours.push(series(&direct, &checkout, calls, concurrency).await?);
                theirs.push(series(&relayed, &checkout, calls, concurrency).await?);
            }
            for mut three in [ours, theirs] {
                three.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
                rows.push(three.swap_remove(1));
            }
        }
        anyhow::Ok(rows)
    })?;
    let (rss, peak) = relay.rss_kib();
    relay.stop();
    emulator.stop();

    println!("| path | concurrency | calls | refunds/s | p50 µs | p99 µs |");
    println!("|---|---:|---:|---:|---:|---:|");
    for s in &rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} |",
            s.name,
            s.concurrency,
            s.calls,
            s.rate(),
            s.percentile(0.5).as_secs_f64() * 1e6,
            s.percentile(0.99).as_secs_f64() * 1e6
        );
    }
    println!();
    for pair in rows.chunks(2) {
        let (direct, relayed) = (&pair[0], &pair[1]);
        println!(
            "- concurrency {}: relay p50 latency +{:.0}% (target ≤ +25% at 1), throughput {:.0}% of direct (target ≥ 50% at 64)",
            direct.concurrency,
            100.0 * (relayed.percentile(0.5).as_secs_f64() / direct.percentile(0.5).as_secs_f64() - 1.0),
            100.0 * relayed.rate() / direct.rate(),
        );
    }
    println!("- relay RSS after the run: {rss} KiB (peak {peak} KiB)");
    Ok(())
}
