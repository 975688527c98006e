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

/// Runs `n` alternating rounds of `a` and `b`; returns each one's median round.
async fn rounds<A, B, FA, FB>(n: usize, a: A, b: B) -> anyhow::Result<(Series, Series)>
where
    A: Fn() -> FA,
    B: Fn() -> FB,
    FA: std::future::Future<Output = anyhow::Result<Series>>,
    FB: std::future::Future<Output = anyhow::Result<Series>>,
{
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for i in 0..n {
        if i % 2 == 0 {
            xs.push(a().await?);
            ys.push(b().await?);
        } else {
            ys.push(b().await?);
            xs.push(a().await?);
        }
    }
    let median = |mut v: Vec<Series>| {
        v.sort_by(|p, q| p.rate().total_cmp(&q.rate()));
        v.swap_remove(v.len() / 2)
    };
    Ok((median(xs), median(ys)))
}

#[tokio::main]
#[allow(clippy::print_stdout)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (rss_start, _) = bench::rss_kib();
    let control = ControlClient::new(&args.base_url, SECRET);
    let total = (args.sequential + args.concurrent) as i64 * 8 + 10_000;
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
    // Three rounds per series, alternating SDK and peer so that background
    // load and emulator state hit both alike; the median round is reported.
    let (ours, peer) = rounds(
        3,
        || bench::sdk(&args.base_url, &checkout, args.sequential, 1),
        || bench::bare_reqwest(&args.base_url, &checkout, args.sequential, 1),
    )
    .await?;
    print_pair(&ours, &peer);
    let (ours, peer) = rounds(
        3,
        || bench::sdk(&args.base_url, &checkout, args.concurrent, 64),
        || bench::bare_reqwest(&args.base_url, &checkout, args.concurrent, 64),
    )
    .await?;
    let (_, rss_peak) = bench::rss_kib();
    print_pair(&ours, &peer);
    drop(idle);
    println!();
    println!("process RSS before any client: {rss_start} KiB; with one idle client: {rss_idle} KiB; peak after the SDK's 64-way series: {rss_peak} KiB");
    Ok(())
}
