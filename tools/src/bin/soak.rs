//! `soak [--calls N] [--concurrency C] [--seed S]`: the fault soak; exits 1
//! unless nothing was refunded twice, lost or left unknown.

use clap::Parser;
use refundkit_tools::soak::{self, SoakConfig};

/// Fault soak of the refund client against the emulator.
#[derive(Parser)]
struct Args {
    /// Refund calls to make.
    #[arg(long, default_value_t = 10_000)]
    calls: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Fault RNG seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = SoakConfig {
        calls: args.calls,
        concurrency: args.concurrency,
        seed: args.seed,
        ..SoakConfig::default()
    };
    let report = soak::run(&config).await?;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "fault soak: {} calls, concurrency {}, seed {}, faults 10% drop_before, 10% drop_after, 10% 5xx, 2% delay {} ms (attempt timeout {} ms)\n",
            config.calls,
            config.concurrency,
            config.seed,
            config.attempt_timeout.as_millis() * 2,
            config.attempt_timeout.as_millis()
        );
        println!("{report}");
    }
    if !report.is_clean() {
        anyhow::bail!("soak invariants violated");
    }
    Ok(())
}
