//! `bench-client --base-url URL [--sequential N] [--concurrent N] [--rounds N]`: refunds/s
//! of the SDK against a bare reqwest POST on one emulator, on tokio's
//! multi-thread and current-thread runtimes and thread per core, plus client
//! RSS.

use clap::Parser;
use refundkit_emulator::ControlClient;
use refundkit_tools::bench::{self, Series, Side, SECRET};
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
    /// Alternating rounds per row (each side's median round is shown).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Run only one side's concurrency-64 series (for profiling): sdk or bare.
    #[arg(long, value_parser = ["sdk", "bare"])]
    only: Option<String>,
    /// The runtime of the `--only` series: multi-thread, current-thread, or
    /// two threads of current-thread runtimes.
    #[arg(long, default_value = "multi", value_parser = ["multi", "current", "threads"])]
    runtime: String,
    /// Also measure concurrency 4 and 16 (multi-thread) and write refunds/s
    /// at 1, 4, 16 and 64 of both sides here, for the chart.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[allow(clippy::print_stdout)]
fn print_pair(runtime: &str, a: &Series, b: &Series) {
    for x in [a, b] {
        println!(
            "| {:<22} | {:<20} | {:>4} | {:>7} | {:>10.0} | {:>14.1} |",
            x.name,
            runtime,
            x.concurrency,
            x.calls,
            x.rate(),
            x.cpu_per_call_us()
        );
    }
    println!(
        "| {:<22} | {:<20} | {:>4} | {:>7} | {:>9.1}% | {:>13.1}% |",
        "SDK / bare",
        runtime,
        a.concurrency,
        "",
        100.0 * a.rate() / b.rate(),
        100.0 * a.cpu_per_call_us() / b.cpu_per_call_us()
    );
}

/// `rounds` rounds of `series` for the SDK and its peer, alternating so that
/// background load and emulator state hit both alike; prints each one's
/// median round and their ratio; returns both medians' refunds/s.
fn compare(
    runtime: &str,
    rounds: usize,
    series: impl Fn(Side) -> anyhow::Result<Series>,
) -> anyhow::Result<(f64, f64)> {
    let (mut ours, mut peers) = (Vec::new(), Vec::new());
    for round in 0..rounds.max(1) {
        if round % 2 == 0 {
            ours.push(series(Side::Sdk)?);
            peers.push(series(Side::Bare)?);
        } else {
            peers.push(series(Side::Bare)?);
            ours.push(series(Side::Sdk)?);
        }
    }
    let median = |mut v: Vec<Series>| {
        v.sort_by(|p, q| p.rate().total_cmp(&q.rate()));
        v.swap_remove(v.len() / 2)
    };
    let (ours, peers) = (median(ours), median(peers));
    print_pair(runtime, &ours, &peers);
    Ok((ours.rate(), peers.rate()))
}

/// A tokio runtime of either flavour, with I/O and timers.
fn runtime(multi_thread: bool) -> anyhow::Result<Runtime> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    Ok(builder.enable_all().build()?)
}

/// One series of `side`, spawned onto `rt` as a task, as a server's handler
/// would be.
fn on(
    rt: &Runtime,
    side: Side,
    url: &str,
    checkout: &str,
    calls: usize,
    concurrency: usize,
) -> anyhow::Result<Series> {
    let (url, checkout) = (url.to_owned(), checkout.to_owned());
    rt.block_on(
        rt.spawn(async move { bench::series(side, &url, &checkout, calls, concurrency).await }),
    )?
}

#[allow(clippy::print_stdout)]
fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (rss_start, _) = bench::rss_kib();
    let multi = runtime(true)?;
    let url = args.base_url.as_str();
    let control = ControlClient::new(url, SECRET);
    if let Some(side) = args.only.as_deref() {
        let checkout = multi.block_on(bench::paid_checkout(
            &control,
            args.concurrent as i64 * 2 + 1000,
        ))?;
        let side = if side == "sdk" { Side::Sdk } else { Side::Bare };
        let series = match args.runtime.as_str() {
            "multi" => on(&multi, side, url, &checkout, args.concurrent, 64)?,
            "current" => on(&runtime(false)?, side, url, &checkout, args.concurrent, 64)?,
            _ => bench::series_threads(side, url, &checkout, args.concurrent, 64, 2)?,
        };
        println!(
            "{}: {:.0} refunds/s, {:.1} client CPU µs per call",
            series.name,
            series.rate(),
            series.cpu_per_call_us()
        );
        return Ok(());
    }
    // Every series starts on an emptied emulator with a checkout of its own:
    // a ledger and key store that grow through the run would slow later
    // series (and stall whichever one is running when a table doubles).
    let fresh = |calls: usize| -> anyhow::Result<String> {
        multi.block_on(async {
            control.reset().await?;
            bench::paid_checkout(&control, calls as i64 + 1_000).await
        })
    };
    let idle = refundkit::Client::builder(SECRET).base_url(url).build()?;
    let (rss_idle, _) = bench::rss_kib();
    println!(
        "| {:<22} | {:<20} | {:>4} | {:>7} | {:>10} | {:>14} |",
        "series", "runtime", "conc", "calls", "refunds/s", "client CPU µs"
    );
    println!(
        "|{}|{}|{}|{}|{}|{}|",
        "-".repeat(24),
        "-".repeat(22),
        "-".repeat(6),
        "-".repeat(9),
        "-".repeat(12),
        "-".repeat(16)
    );
    let (seq, conc, rounds) = (args.sequential, args.concurrent, args.rounds);
    let mut sweep = vec![(
        1,
        compare("multi-thread", rounds, |side| {
            on(&multi, side, url, &fresh(seq)?, seq, 1)
        })?,
    )];
    if args.json.is_some() {
        for c in [4, 16] {
            let rates = compare("multi-thread", rounds, |side| {
                on(&multi, side, url, &fresh(conc / 2)?, conc / 2, c)
            })?;
            sweep.push((c, rates));
        }
    }
    sweep.push((
        64,
        compare("multi-thread", rounds, |side| {
            on(&multi, side, url, &fresh(conc)?, conc, 64)
        })?,
    ));
    let (_, rss_peak) = bench::rss_kib();
    let current = runtime(false)?;
    compare("current-thread", rounds, |side| {
        on(&current, side, url, &fresh(conc)?, conc, 64)
    })?;
    compare("2 × current-thread", rounds, |side| {
        bench::series_threads(side, url, &fresh(conc)?, conc, 64, 2)
    })?;
    drop(idle);
    if let Some(path) = &args.json {
        let series = |pick: fn((f64, f64)) -> f64| {
            sweep
                .iter()
                .map(|(c, rates)| (c.to_string(), pick(*rates)))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let doc = serde_json::json!({
            "language": "Rust",
            "unit": "refunds/s",
            "series": {
                "refundkit::Client": series(|r| r.0),
                "bare reqwest POST": series(|r| r.1),
            },
        });
        std::fs::write(path, doc.to_string())?;
    }
    println!();
    println!("process RSS before any client: {rss_start} KiB; with one idle client: {rss_idle} KiB; peak after the SDK's 64-way series: {rss_peak} KiB");
    Ok(())
}
