//! End-to-end refunds/s of `refundkit::Client` against a bare reqwest POST of
//! the same request, on the same emulator, in one run.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt, TryStreamExt};
use refundkit::{Client, RefundRequest};
use refundkit_emulator::ControlClient;

/// Secret key used by the benchmark.
pub const SECRET: &str = "sk_live_bench0123456789abcdef";

/// One measured series.
#[derive(Debug, Clone)]
pub struct Series {
    /// What was measured.
    pub name: String,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Calls made.
    pub calls: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// CPU time this process used during the series (all threads).
    pub cpu: Duration,
}

impl Series {
    /// Calls per second.
    pub fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
    /// Client CPU per call, in microseconds.
    pub fn cpu_per_call_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.calls as f64
    }
}

/// CPU time used by this process so far (user + system, all threads; Linux).
pub fn process_cpu() -> Duration {
    cpu_from_stat("/proc/self/stat")
}

/// CPU time used so far by process `pid` (user + system, all threads;
/// Linux; zero if it cannot be read).
pub fn process_cpu_of(pid: u32) -> Duration {
    cpu_from_stat(&format!("/proc/{pid}/stat"))
}

fn cpu_from_stat(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Kernel clock ticks are 100 Hz on every Linux this runs on.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// A paid checkout large enough for `cents` one-cent refunds.
pub async fn paid_checkout(control: &ControlClient, cents: i64) -> anyhow::Result<String> {
    let checkout = control.create_checkout(cents.max(200), None).await?;
    let id = checkout["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no checkout id"))?
        .to_owned();
    control.pay(&id).await?;
    Ok(id)
}

/// The two clients a benchmark compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `refundkit::Client::refund`.
    Sdk,
    /// The peer: a bare reqwest POST with the same method, path, body,
    /// authorization, content type and a fresh UUIDv4 key; the answer parsed
    /// as JSON; no validation, no retries.
    Bare,
}

impl Side {
    /// The series name printed in tables.
    pub fn name(self) -> &'static str {
        match self {
            Side::Sdk => "refundkit::Client",
            Side::Bare => "bare reqwest POST",
        }
    }
}

/// One client of either side, ready to refund one cent of a checkout.
enum Caller {
    Sdk {
        client: Client,
        checkout: String,
    },
    Bare {
        http: reqwest::Client,
        url: String,
        auth: String,
    },
}

impl Caller {
    fn new(side: Side, base_url: &str, checkout: &str) -> anyhow::Result<Self> {
        Ok(match side {
            Side::Sdk => Caller::Sdk {
                client: Client::builder(SECRET).base_url(base_url).build()?,
                checkout: checkout.to_owned(),
            },
            Side::Bare => Caller::Bare {
                http: reqwest::Client::builder().tcp_nodelay(true).build()?,
                url: format!("{base_url}/api/checkouts/{checkout}/refund"),
                auth: format!("Bearer {SECRET}"),
            },
        })
    }

    async fn call(&self) -> anyhow::Result<()> {
        match self {
            Caller::Sdk { client, checkout } => {
                client
                    .refund(RefundRequest::new(checkout.as_str()).amount(1))
                    .await?;
            }
            Caller::Bare { http, url, auth } => {
                let response = http
                    .post(url.as_str())
                    .header("authorization", auth.as_str())
                    .header("content-type", "application/json")
                    .header("idempotency-key", refundkit::policy::new_idempotency_key())
                    .body(r#"{"amount":1}"#)
                    .send()
                    .await?;
                let status = response.status();
                let body = response.bytes().await?;
                let json: serde_json::Value = serde_json::from_slice(&body)?;
                anyhow::ensure!(
                    status.as_u16() == 202 && json["refundId"].is_string(),
                    "bad answer {status}"
                );
            }
        }
        Ok(())
    }

    /// `n` calls, `concurrency` at a time. A failed call ends the benchmark:
    /// a figure that includes errors would mean nothing.
    async fn run(&self, n: usize, concurrency: usize) -> anyhow::Result<()> {
        stream::iter(0..n)
            .map(|_| self.call())
            .buffer_unordered(concurrency)
            .try_for_each(|()| async { Ok(()) })
            .await
    }
}

/// `calls` one-cent refunds by `side`, `concurrency` at a time, on the
/// current runtime, after `concurrency.max(50)` warm-up calls.
pub async fn series(
    side: Side,
    base_url: &str,
    checkout: &str,
    calls: usize,
    concurrency: usize,
) -> anyhow::Result<Series> {
    let caller = Caller::new(side, base_url, checkout)?;
    caller.run(concurrency.max(50), concurrency).await?;
    let (started, cpu) = (Instant::now(), process_cpu());
    caller.run(calls, concurrency).await?;
    Ok(Series {
        name: side.name().into(),
        concurrency,
        calls,
        elapsed: started.elapsed(),
        cpu: process_cpu().saturating_sub(cpu),
    })
}

/// The same, spread over `threads` OS threads, each with its own
/// current-thread runtime and its own client (thread per core, the way
/// `wrk -t` runs): `calls / threads` calls each, `concurrency / threads` at a
/// time. Timing starts once every thread has warmed up.
pub fn series_threads(
    side: Side,
    base_url: &str,
    checkout: &str,
    calls: usize,
    concurrency: usize,
    threads: usize,
) -> anyhow::Result<Series> {
    let (per_thread, per_thread_concurrency) = (calls / threads, (concurrency / threads).max(1));
    let ready = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (ready, base_url, checkout) =
                (ready.clone(), base_url.to_owned(), checkout.to_owned());
            std::thread::spawn(move || -> anyhow::Result<Instant> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let prepared = async {
                        let caller = Caller::new(side, &base_url, &checkout)?;
                        let warm_up = per_thread_concurrency.max(50);
                        caller.run(warm_up, per_thread_concurrency).await?;
                        anyhow::Ok(caller)
                    }
                    .await;
                    // Every thread reaches the barrier, even one that failed,
                    // so that a failure is reported instead of a hang.
                    ready.wait();
                    prepared?.run(per_thread, per_thread_concurrency).await?;
                    Ok(Instant::now())
                })
            })
        })
        .collect();
    ready.wait();
    let (started, cpu) = (Instant::now(), process_cpu());
    let mut finished = started;
    for worker in workers {
        let done = worker
            .join()
            .map_err(|_| anyhow::anyhow!("a benchmark thread panicked"))??;
        finished = finished.max(done);
    }
    Ok(Series {
        name: side.name().into(),
        concurrency,
        calls: per_thread * threads,
        elapsed: finished - started,
        cpu: process_cpu().saturating_sub(cpu),
    })
}

/// This process's resident set size and its peak, in KiB (Linux only).
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
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
