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
    /// Run only one side's concurrency-64 series (for profiling): sdk or bare.
    #[arg(long)]
    only: Option<String>,
}

#[allow(clippy::print_stdout)]
fn print_pair(a: &Series, b: &Series) {
    for x in [a, b] {
        println!(
            "| {:<22} | {:>4} | {:>7} | {:>10.0} | {:>14.1} |",
            x.name,
            x.concurrency,
            x.calls,
            x.rate(),
            x.cpu_per_call_us()
        );
    }
    println!(
        "| {:<22} | {:>4} | {:>7} | {:>9.1}% | {:>13.1}% |",
        "SDK / bare",
        a.concurrency,
        "",
        100.0 * a.rate() / b.rate(),
        100.0 * a.cpu_per_call_us() / b.cpu_per_call_us()
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
    if let Some(side) = args.only.as_deref() {
        let control = ControlClient::new(&args.base_url, SECRET);
        let checkout = bench::paid_checkout(&control, args.concurrent as i64 * 2 + 1000).await?;
        let series = match side {
            "sdk" => bench::sdk(&args.base_url, &checkout, args.concurrent, 64).await?,
            _ => bench::bare_reqwest(&args.base_url, &checkout, args.concurrent, 64).await?,
        };
        println!(
            "{}: {:.0} refunds/s, {:.1} client CPU µs per call",
            series.name,
            series.rate(),
            series.cpu_per_call_us()
        );
        return Ok(());
    }
    let control = ControlClient::new(&args.base_url, SECRET);
    let total = (args.sequential + args.concurrent) as i64 * 8 + 10_000;
    let checkout = bench::paid_checkout(&control, total).await?;
    let idle = refundkit::Client::builder(SECRET)
        .base_url(&args.base_url)
        .build()?;
    let (rss_idle, _) = bench::rss_kib();
    println!(
        "| {:<22} | {:>4} | {:>7} | {:>10} | {:>14} |",
        "series", "conc", "calls", "refunds/s", "client CPU µs"
    );
    println!(
        "|{}|{}|{}|{}|{}|",
        "-".repeat(24),
        "-".repeat(6),
        "-".repeat(9),
        "-".repeat(12),
        "-".repeat(16)
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
