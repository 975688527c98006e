//! End-to-end refunds/s of `refundkit::Client` against a bare reqwest POST of
//! the same request, on the same emulator, in one run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
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
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
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

/// Warms the pool with `concurrency.max(50)` calls, then times `calls`
/// calls of `call`, `concurrency` at a time. A failed call ends the
/// benchmark: a figure that includes errors would mean nothing.
async fn measure<F, Fut>(name: &str, calls: usize, concurrency: usize, call: F) -> Series
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let run = |n: usize| {
        stream::iter(0..n)
            .map(|_| call())
            .buffer_unordered(concurrency)
            .for_each(|r| async move {
                if let Err(e) = r {
                    panic!("{name} failed during the benchmark: {e}");
                }
            })
    };
    run(concurrency.max(50)).await;
    let (started, cpu) = (Instant::now(), process_cpu());
    run(calls).await;
    Series {
        name: name.into(),
        concurrency,
        calls,
        elapsed: started.elapsed(),
        cpu: process_cpu().saturating_sub(cpu),
    }
}

/// The SDK: `calls` one-cent refunds, `concurrency` at a time.
pub async fn sdk(
    base_url: &str,
    checkout: &str,
    calls: usize,
    concurrency: usize,
) -> anyhow::Result<Series> {
    let client = Client::builder(SECRET).base_url(base_url).build()?;
    let call = || {
        let client = client.clone();
        async move {
            client
                .refund(RefundRequest::new(checkout).amount(1))
                .await?;
            Ok(())
        }
    };
    Ok(measure("refundkit::Client", calls, concurrency, call).await)
}

/// The peer: a bare reqwest POST with the same headers and body, the answer
/// parsed as JSON, no validation, no retries.
pub async fn bare_reqwest(
    base_url: &str,
    checkout: &str,
    calls: usize,
    concurrency: usize,
) -> anyhow::Result<Series> {
    let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let url = Arc::new(format!("{base_url}/api/checkouts/{checkout}/refund"));
    let auth = format!("Bearer {SECRET}");
    let call = || {
        let (http, url, auth) = (http.clone(), url.clone(), auth.clone());
        async move {
            let response = http
                .post(url.as_str())
                .header("authorization", auth)
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
            Ok(())
        }
    };
    Ok(measure("bare reqwest POST", calls, concurrency, call).await)
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
