//! What the relay costs: refunds/s, p50 and p99 of one-cent refunds made
//! by `refundkit::Client` straight to the emulator (secret key) and through
//! `refundkit relay` (token mode, an HS256 JWT), at concurrency 1 and 64,
//! plus the relay's RSS. Not a test: nothing is asserted.
//!
//! Four paths, each round alternating between them:
//! - direct: the client to the emulator;
//! - floor: the client to a bare forwarder (no token check, no policy, no
//!   journal) that sends each refund on through `refundkit::Client` and
//!   answers as the relay does: what a second HTTP hop alone costs;
//! - relay with `--journal :memory:`: everything but the journal's disk;
//! - relay with a journal file: the real thing.
//!
//! `scripts/bench-relay` builds the release binary and runs this; by hand:
//! `cargo bench -p refundkit-relay --bench relay_overhead -- --bin target/release/refundkit`
//! (`--quick` for short runs; `--paths file,memory` and `--concurrency 64` to
//! run only some rows, e.g. while profiling: the relays' and the emulator's
//! process ids go to stderr).
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use refundkit_tools::bench::process_cpu_of;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use http::HeaderMap;
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

/// The floor's request body.
#[derive(serde::Deserialize)]
struct FloorBody {
    amount: Option<i64>,
}

/// The floor's one route: forward with the secret key, answer as the relay.
async fn floor_refund(
    State(client): State<Arc<Client>>,
    Path(checkout_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let amount = serde_json::from_slice::<FloorBody>(&body)
        .ok()
        .and_then(|b| b.amount);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let request = RefundRequest {
        checkout_id,
        amount,
        metadata: None,
        idempotency_key: Some(key.clone()),
    };
    match client.refund(request).await {
        Ok(refund) => refundkit_relay::answer::accepted(&refund, &key),
        Err(e) => refundkit_relay::answer::upstream_failure(&e, &key),
    }
}

/// Serves the floor forwarder for `upstream` in this process until killed,
/// on the runtime the relay uses by default (`refundkit_relay::runtime`), announcing
/// `listening on URL` as the relay does. The bench runs itself with
/// `--serve-floor UPSTREAM` for this, so the floor is a process of its own
/// like the relay and its CPU time is measured the same way.
fn serve_floor(upstream: &str) -> anyhow::Result<()> {
    let client = Arc::new(Client::builder(SECRET).base_url(upstream).build()?);
    let runtime = refundkit_relay::runtime::build(1)?;
    runtime.block_on(async move {
        use axum::serve::ListenerExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on http://{}", listener.local_addr()?);
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let router = axum::Router::new()
            .route("/api/checkouts/{id}/refund", post(floor_refund))
            .with_state(client);
        axum::serve(listener, router).await?;
        anyhow::Ok(())
    })
}

/// One side: a `refundkit::Client` and what the table calls it.
struct Caller {
    name: &'static str,
    client: Client,
    /// The process that forwards (floor or relay), if any.
    forwarder: Option<u32>,
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
    /// CPU time of the forwarding process, the emulator and this process.
    cpu: [Duration; 3],
}

impl Series {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
    /// CPU µs per refund of process `i` (forwarder, emulator, bench).
    fn cpu_us(&self, i: usize) -> f64 {
        self.cpu[i].as_secs_f64() * 1e6 / self.calls as f64
    }
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[at]
    }
}

/// CPU time so far of the forwarder (zero without one), the emulator and
/// this process.
fn cpu_now(forwarder: Option<u32>, emulator: u32) -> [Duration; 3] {
    [
        forwarder.map_or(Duration::ZERO, process_cpu_of),
        process_cpu_of(emulator),
        process_cpu_of(std::process::id()),
    ]
}

async fn series(
    caller: &Caller,
    emulator: u32,
    checkout: &str,
    calls: usize,
    concurrency: usize,
) -> anyhow::Result<Series> {
    caller
        .run(checkout, concurrency.max(50), concurrency)
        .await?;
    let before = cpu_now(caller.forwarder, emulator);
    let started = Instant::now();
    let latencies = caller.run(checkout, calls, concurrency).await?;
    let elapsed = started.elapsed();
    let after = cpu_now(caller.forwarder, emulator);
    Ok(Series {
        name: caller.name,
        concurrency,
        calls,
        elapsed,
        latencies,
        cpu: [0, 1, 2].map(|i| after[i].saturating_sub(before[i])),
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
    if let Some(i) = args.iter().position(|a| a == "--serve-floor") {
        return serve_floor(&args[i + 1]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let bin = args
        .iter()
        .position(|a| a == "--bin")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/refundkit").to_owned()
        });
    let (c1_calls, c64_calls) = if quick { (300, 3_000) } else { (3_000, 30_000) };
    let value_of = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    // Short names of the paths to run (direct, floor, memory, file): all by default.
    let paths = value_of("--paths").unwrap_or_else(|| "direct,floor,memory,file".to_owned());
    let paths: Vec<&str> = paths.split(',').collect();
    let concurrency_only: Option<usize> =
        value_of("--concurrency").map(|c| c.parse()).transpose()?;

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
    let relay_with = |journal: &str| {
        Server::spawn(
            &bin,
            &[
                "relay",
                "--upstream",
                &emulator.url,
                "--auth",
                auth.to_str().unwrap(),
                "--journal",
                journal,
            ],
            &[("REFUNDKIT_SECRET_KEY", SECRET), (JWT_ENV, JWT_SECRET)],
        )
    };
    let relay = relay_with(journal.to_str().unwrap())?;
    let memory_relay = relay_with(":memory:")?;
    let floor = Server::spawn(
        std::env::current_exe()?.to_str().unwrap(),
        &["--serve-floor", &emulator.url],
        &[],
    )?;
    let emulator_pid = emulator.child.id();
    eprintln!(
        "pids: emulator {emulator_pid}, relay (file) {}, relay (:memory:) {}, floor {}",
        relay.child.id(),
        memory_relay.child.id(),
        floor.child.id()
    );

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
            forwarder: None,
        };
        let token = token();
        let through = |name: &'static str, server: &Server| -> anyhow::Result<Caller> {
            let token = token.clone();
            let url = &server.url;
            Ok(Caller {
                name,
                forwarder: Some(server.child.id()),
                client: Client::builder_for_relay(url, move |_force_refresh: bool| {
                    let token = token.clone();
                    async move { Ok(token) }
                })
                .build()?,
            })
        };
        let callers: Vec<Caller> = [
            direct,
            through(
                "refundkit::Client (token mode) → floor (forward only) → emulator",
                &floor,
            )?,
            through(
                "refundkit::Client (token mode) → relay (--journal :memory:) → emulator",
                &memory_relay,
            )?,
            through(
                "refundkit::Client (token mode) → relay (journal file) → emulator",
                &relay,
            )?,
        ]
        .into_iter()
        .zip(["direct", "floor", "memory", "file"])
        .filter(|(_, short)| paths.contains(short))
        .map(|(caller, _)| caller)
        .collect();
        let mut rows = Vec::new();
        for (calls, concurrency) in [(c1_calls, 1), (c64_calls, 64)] {
            if concurrency_only.is_some_and(|only| only != concurrency) {
                continue;
            }
            // Three alternating rounds each; the median round by rate is kept.
            let mut rounds: Vec<Vec<Series>> = callers.iter().map(|_| Vec::new()).collect();
            for _ in 0..3 {
                for (caller, series_of) in callers.iter().zip(rounds.iter_mut()) {
                    series_of
                        .push(series(caller, emulator_pid, &checkout, calls, concurrency).await?);
                }
            }
            for mut three in rounds {
                three.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
                rows.push(three.swap_remove(1));
            }
        }
        anyhow::Ok(rows)
    })?;
    let (rss, peak) = relay.rss_kib();
    relay.stop();
    memory_relay.stop();
    floor.stop();
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
    // Against direct, when every path ran.
    for group in rows.chunks(4).filter(|_| paths.len() == 4) {
        let direct = &group[0];
        for other in &group[1..] {
            println!(
                "- concurrency {}, {}: p50 latency +{:.0}% over direct, throughput {:.0}% of direct",
                direct.concurrency,
                other.name,
                100.0
                    * (other.percentile(0.5).as_secs_f64() / direct.percentile(0.5).as_secs_f64()
                        - 1.0),
                100.0 * other.rate() / direct.rate(),
            );
        }
    }
    println!("- relay RSS after the run: {rss} KiB (peak {peak} KiB)");
    println!();
    println!(
        "CPU µs per refund (user + system, /proc/PID/stat; same median rounds): \
         the forwarder (floor or relay), the emulator, and the bench process (the calling clients)"
    );
    println!();
    println!("| path | concurrency | forwarder | emulator | bench | total |");
    println!("|---|---:|---:|---:|---:|---:|");
    for s in &rows {
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            s.name,
            s.concurrency,
            s.cpu_us(0),
            s.cpu_us(1),
            s.cpu_us(2),
            s.cpu_us(0) + s.cpu_us(1) + s.cpu_us(2)
        );
    }
    Ok(())
}
