//! `bench-client --base-url URL [--sequential N] [--concurrent N]`: refunds/s
//! of the SDK against a bare reqwest POST on one emulator, on tokio's
//! multi-thread and current-thread runtimes, plus client RSS.

use clap::Parser;
use refundkit_emulator::ControlClient;
use refundkit_tools::bench::{self, Series, SECRET};
use tokio::runtime::Runtime;

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
fn print_pair(runtime: &str, a: &Series, b: &Series) {
    for x in [a, b] {
        println!(
            "| {:<22} | {:<14} | {:>4} | {:>7} | {:>10.0} | {:>14.1} |",
            x.name,
            runtime,
            x.concurrency,
            x.calls,
            x.rate(),
            x.cpu_per_call_us()
        );
    }
    println!(
        "| {:<22} | {:<14} | {:>4} | {:>7} | {:>9.1}% | {:>13.1}% |",
        "SDK / bare",
        runtime,
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

/// The two runtimes a service typically runs the SDK on. Each series is
/// spawned onto the runtime as a task, as a server's handler would be.
fn runtime(multi_thread: bool) -> anyhow::Result<Runtime> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    Ok(builder.enable_all().build()?)
}

fn spawned<F>(rt: &Runtime, fut: F) -> anyhow::Result<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(rt.block_on(rt.spawn(fut))?)
}

#[allow(clippy::print_stdout)]
fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (rss_start, _) = bench::rss_kib();
    let multi = runtime(true)?;
    let url = args.base_url.clone();
    let control = ControlClient::new(&url, SECRET);
    if let Some(side) = args.only.clone() {
        let series = spawned(&multi, async move {
            let checkout =
                bench::paid_checkout(&control, args.concurrent as i64 * 2 + 1000).await?;
            match side.as_str() {
                "sdk" => bench::sdk(&url, &checkout, args.concurrent, 64).await,
                _ => bench::bare_reqwest(&url, &checkout, args.concurrent, 64).await,
            }
        })??;
        println!(
            "{}: {:.0} refunds/s, {:.1} client CPU µs per call",
            series.name,
            series.rate(),
            series.cpu_per_call_us()
        );
        return Ok(());
    }
    let total = (args.sequential + args.concurrent * 2) as i64 * 8 + 10_000;
    let checkout = multi.block_on(bench::paid_checkout(&control, total))?;
    let idle = refundkit::Client::builder(SECRET).base_url(&url).build()?;
    let (rss_idle, _) = bench::rss_kib();
    println!(
        "| {:<22} | {:<14} | {:>4} | {:>7} | {:>10} | {:>14} |",
        "series", "runtime", "conc", "calls", "refunds/s", "client CPU µs"
    );
    println!(
        "|{}|{}|{}|{}|{}|{}|",
        "-".repeat(24),
        "-".repeat(16),
        "-".repeat(6),
        "-".repeat(9),
        "-".repeat(12),
        "-".repeat(16)
    );
    // Three rounds per series, alternating SDK and peer so that background
    // load and emulator state hit both alike; the median round is reported.
    let series = |concurrency: usize, calls: usize| {
        let (url, checkout) = (url.clone(), checkout.clone());
        async move {
            rounds(
                3,
                || bench::sdk(&url, &checkout, calls, concurrency),
                || bench::bare_reqwest(&url, &checkout, calls, concurrency),
            )
            .await
        }
    };
    let (ours, peer) = spawned(&multi, series(1, args.sequential))??;
    print_pair("multi-thread", &ours, &peer);
    let (ours, peer) = spawned(&multi, series(64, args.concurrent))??;
    let (_, rss_peak) = bench::rss_kib();
    print_pair("multi-thread", &ours, &peer);
    let current = runtime(false)?;
    let (ours, peer) = spawned(&current, series(64, args.concurrent))??;
    print_pair("current-thread", &ours, &peer);
    drop(idle);
    println!();
    println!("process RSS before any client: {rss_start} KiB; with one idle client: {rss_idle} KiB; peak after the SDK's 64-way series: {rss_peak} KiB");
    Ok(())
}
