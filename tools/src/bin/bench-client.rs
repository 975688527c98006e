//! `bench-client --base-url URL [--sequential N] [--concurrent N]`: refunds/s
//! of the SDK against a bare reqwest POST on one emulator, plus client RSS.

use clap::Parser;
use refundkit_emulator::ControlClient;
use refundkit_tools::bench::{self, Series, SECRET};

/// End-to-end client benchmark.
#[derive(Parser)]
struct Args {
    /// The emulator to measure against (start one with `refundkit emulator`).
    #[arg(long)]
    base_url: String,
    /// Calls in the sequential series.
    #[arg(long, default_value_t = 5_000)]
    sequential: usize,
    /// Calls in the concurrency-64 series.
    #[arg(long, default_value_t = 40_000)]
    concurrent: usize,
}

#[allow(clippy::print_stdout)]
fn print_pair(a: &Series, b: &Series) {
    println!(
        "| {:<22} | {:>4} | {:>7} | {:>10.0} |",
        a.name,
        a.concurrency,
        a.calls,
        a.rate()
    );
    println!(
        "| {:<22} | {:>4} | {:>7} | {:>10.0} |",
        b.name,
        b.concurrency,
        b.calls,
        b.rate()
    );
    println!(
        "| {:<22} | {:>4} | {:>7} | {:>9.1}% |",
        "SDK / bare",
        a.concurrency,
        "",
        100.0 * a.rate() / b.rate()
    );
}

#[tokio::main]
#[allow(clippy::print_stdout)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (rss_start, _) = bench::rss_kib();
    let control = ControlClient::new(&args.base_url, SECRET);
    let total = (args.sequential + args.concurrent) as i64 * 2 + 10_000;
    let checkout = bench::paid_checkout(&control, total).await?;
    let idle = refundkit::Client::builder(SECRET)
        .base_url(&args.base_url)
        .build()?;
    let (rss_idle, _) = bench::rss_kib();
    println!(
        "| {:<22} | {:>4} | {:>7} | {:>10} |",
        "series", "conc", "calls", "refunds/s"
    );
    println!(
        "|{}|{}|{}|{}|",
        "-".repeat(24),
        "-".repeat(6),
        "-".repeat(9),
        "-".repeat(12)
    );
    // Alternate the order so neither side always runs on a warmer emulator.
    let peer = bench::bare_reqwest(&args.base_url, &checkout, args.sequential, 1).await?;
    let ours = bench::sdk(&args.base_url, &checkout, args.sequential, 1).await?;
    print_pair(&ours, &peer);
    let ours = bench::sdk(&args.base_url, &checkout, args.concurrent, 64).await?;
    let (_, rss_peak) = bench::rss_kib();
    let peer = bench::bare_reqwest(&args.base_url, &checkout, args.concurrent, 64).await?;
    print_pair(&ours, &peer);
    drop(idle);
    println!();
    println!("process RSS before any client: {rss_start} KiB; with one idle client: {rss_idle} KiB; peak after the SDK's 64-way series: {rss_peak} KiB");
    Ok(())
}
