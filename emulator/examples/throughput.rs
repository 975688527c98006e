//! Rough refund throughput: `cargo run --release -p refundkit-emulator
//! --example throughput -- [concurrency] [seconds]`.
//!
//! Starts an emulator in-process, gives each worker its own paid checkout,
//! then sends partial refunds of 1 cent, each with a fresh idempotency key
//! (as the SDK does), from `concurrency` keep-alive connections. The load
//! generator shares the machine with the emulator, so this is a lower bound.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use refundkit_emulator::{ControlClient, Emulator, EmulatorConfig};

const KEY: &str = "sk_live_loadloadloadloadloadload";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let concurrency: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);
    let seconds: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let emulator = Emulator::start(EmulatorConfig::default()).await?;
    let control = ControlClient::new(&emulator.base_url(), KEY);
    let mut checkouts = Vec::new();
    for _ in 0..concurrency {
        let c = control.create_checkout(1 << 40, None).await?;
        let id = c["id"].as_str().unwrap_or_default().to_owned();
        control.pay(&id).await?;
        checkouts.push(id);
    }
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .build()?;
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for (worker, id) in checkouts.into_iter().enumerate() {
        let (http, done, failed) = (http.clone(), done.clone(), failed.clone());
        let url = format!("{}/api/checkouts/{id}/refund", emulator.base_url());
        workers.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let response = http
                    .post(&url)
                    .bearer_auth(KEY)
                    .header("content-type", "application/json")
                    .header("idempotency-key", format!("w{worker}-{n}"))
                    .body(r#"{"amount":1}"#)
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().as_u16() == 202 => {
                        let _ = r.bytes().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    workers.join_all().await;
    let elapsed = started.elapsed().as_secs_f64();
    let made = done.load(Ordering::Relaxed);
    let ledger = control.ledger(None).await?.len();
    println!(
        "concurrency {concurrency}: {made} refunds in {elapsed:.1} s = {:.0}/s, {} failed, ledger {ledger}",
        made as f64 / elapsed,
        failed.load(Ordering::Relaxed)
    );
    emulator.shutdown().await;
    Ok(())
}
