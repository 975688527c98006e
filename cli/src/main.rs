//! `refundkit`: refunds through the Checkout API from the command line.
//!
//! This file holds the command-line definitions and the dispatch; each
//! command lives in its own module. Protocol logic (validation, retries,
//! parsing, signatures) is the core crate's: commands only call it.

mod batch;
use refundkit_cli::csv_rows;
mod demo;
mod emulator_cmd;
mod exit;
mod journal;
mod output;
mod refund_cmd;
mod relay_cmd;
mod webhook_cmd;
mod webhook_receiver;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::exit::{CliError, Exit};
use crate::output::Output;

/// Refunds through the Checkout API: idempotent, retried, typed errors,
/// verified webhooks.
#[derive(Debug, Parser)]
#[command(
    name = "refundkit",
    version,
    after_help = "Exit status: 0 success, 1 API or network error, a refund answered with a \
                  status other than successful (e.g. 202 with \"failed\"), or a batch row that \
                  did not succeed, 2 usage error or invalid input (nothing was sent).\n\n\
                  Start with `refundkit demo`."
)]
struct Cli {
    /// Print one JSON document on stdout instead of text (for scripts).
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole refund flow on an embedded emulator, explaining each step.
    ///
    /// Creates and pays a live checkout, refunds it, repeats the request with
    /// the same idempotency key (the service replays its answer instead of
    /// refunding twice), and receives and verifies the `refund.succeeded`
    /// webhook. Needs no account and no network.
    Demo,
    /// Refund one checkout, or every row of a CSV file.
    Refund(RefundArgs),
    /// Work with webhook deliveries.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Serve the local Checkout API emulator until SIGINT or SIGTERM.
    ///
    /// Prints exactly one line, `listening on http://HOST:PORT`, once it
    /// accepts connections.
    Emulator(EmulatorArgs),
    /// Serve the refund relay for merchant apps until SIGINT or SIGTERM.
    ///
    /// Apps send refunds here with a JWT instead of the secret key; the
    /// relay checks the token and the caller's role policy, forwards with
    /// the secret key from REFUNDKIT_SECRET_KEY, answers what the service
    /// answered and journals every decision. Prints exactly one line,
    /// `listening on http://HOST:PORT`, once it accepts connections. See
    /// docs/mobile.md.
    Relay(RelayArgs),
}

/// Arguments of `refundkit refund`.
#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("target").required(true).args(["checkout_id", "from", "status"])),
    after_help = "The secret key is read from REFUNDKIT_SECRET_KEY (never from a flag) and is \
                  only ever shown masked.\n\n\
                  With --from, each CSV row is `checkout_id[,amount][,key=value...]`; a header \
                  row, blank lines and lines starting with # are skipped. Every row is \
                  validated before anything is sent. The journal stores each row's idempotency \
                  key before its request is sent: rerun the same command after a crash or \
                  failure and rows already refunded are skipped, rows with an unknown outcome \
                  are re-sent with their stored key, so nothing is refunded twice. Each row's \
                  key is stable: an `idempotency_key` column (named in a header row), else an \
                  HMAC of the row's fields keyed with the secret key, so even a fresh journal \
                  never refunds a row twice.\n\n\
                  With --journal postgres://USER:PASSWORD@HOST:PORT/DB any number of processes \
                  on any machines share one run: rows are imported once, claimed under a lease \
                  and taken over when a worker dies. --status prints a journal's counts."
)]
struct RefundArgs {
    /// The checkout to refund (`ch_…`).
    checkout_id: Option<String>,

    /// Cents to refund [default: everything still refundable].
    #[arg(
        long,
        value_name = "CENTS",
        allow_negative_numbers = true,
        conflicts_with = "from"
    )]
    amount: Option<i64>,

    /// A metadata entry recorded with the refund; repeatable.
    #[arg(
        long = "metadata",
        value_name = "KEY=VALUE",
        value_parser = parse_key_value,
        conflicts_with = "from"
    )]
    metadata: Vec<(String, String)>,

    /// The idempotency key to send [default: a fresh UUIDv4]. Reuse the key
    /// of a call whose outcome is unknown to learn it without refunding twice.
    #[arg(long, value_name = "KEY", conflicts_with = "from")]
    idempotency_key: Option<String>,

    /// Refund every row of this CSV file instead of one checkout.
    #[arg(long, value_name = "FILE.csv", requires = "journal")]
    from: Option<PathBuf>,

    /// The journal of a --from run: a SQLite file (created if missing) or
    /// a PostgreSQL URL shared by many workers.
    #[arg(long, value_name = "FILE.db|postgres://…")]
    journal: Option<String>,

    /// Print the journal's per-state counts (and each worker's progress on
    /// PostgreSQL) instead of sending anything.
    #[arg(long, requires = "journal", conflicts_with = "from")]
    status: bool,

    /// Re-send rows that failed with a definite error (e.g. a wrong key or
    /// an unpaid checkout) once the cause is fixed, with their stored keys.
    #[arg(long, requires = "from")]
    retry_failed: bool,

    /// The run's name in a PostgreSQL journal [default: the CSV's SHA-256].
    #[arg(long, value_name = "NAME")]
    run: Option<String>,

    /// How long a PostgreSQL worker holds a claimed row without a heartbeat
    /// before others take it over, e.g. 60s, 2m, 500ms [default: 60s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "from")]
    lease: Option<std::time::Duration>,

    /// Refunds in flight at once with --from [default: 8].
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u16).range(1..=256),
        requires = "from"
    )]
    concurrency: Option<u16>,

    /// The API base URL [default: https://payments.yoco.com].
    #[arg(long, value_name = "URL", env = "REFUNDKIT_BASE_URL")]
    base_url: Option<String>,

    /// Retries after the first attempt of each refund (0 to 10).
    #[arg(long, value_name = "N", default_value_t = refundkit::config::DEFAULT_MAX_RETRIES)]
    max_retries: u32,
}

#[derive(Debug, Subcommand)]
enum WebhookCommand {
    /// Verify a delivery's signature and timestamp, then print the event.
    Verify(WebhookVerifyArgs),
}

/// Arguments of `refundkit webhook verify`.
#[derive(Debug, Args)]
struct WebhookVerifyArgs {
    /// The endpoint's signing secret (`whsec_…`).
    #[arg(
        long,
        value_name = "whsec_…",
        env = "REFUNDKIT_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    secret: String,

    /// A delivery header as `name: value`; repeat for webhook-id,
    /// webhook-timestamp and webhook-signature.
    #[arg(
        long = "header",
        short = 'H',
        visible_alias = "headers",
        value_name = "NAME: VALUE",
        value_parser = parse_header
    )]
    headers: Vec<(String, String)>,

    /// The raw body exactly as received (`-` reads stdin).
    #[arg(long, value_name = "FILE")]
    body: PathBuf,

    /// Seconds the webhook-timestamp may be from now, past or future.
    #[arg(long, value_name = "SECS", default_value_t = refundkit::webhooks::DEFAULT_TOLERANCE.as_secs())]
    tolerance: u64,
}

/// Arguments of `refundkit emulator`.
#[derive(Debug, Args)]
struct EmulatorArgs {
    /// Address to listen on. Anything but loopback draws a warning: the
    /// /_emulator control endpoints have no authentication.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,

    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,

    /// Accept only this secret key; repeatable [default: any well-formed key].
    #[arg(long = "secret-key", value_name = "KEY")]
    secret_keys: Vec<String>,

    /// Multiply webhook retry delays by this factor, 0 to 1000 (e.g. 0.001
    /// in tests) [default: 1].
    #[arg(
        long,
        value_name = "F",
        value_parser = emulator_cmd::parse_time_scale,
        allow_negative_numbers = true
    )]
    webhook_time_scale: Option<f64>,

    /// Fault injection as JSON, e.g. '{"drop_after": 0.2, "seed": 7}'
    /// (fields: drop_before, rate_limit, retry_after_secs, drop_after,
    /// error_5xx, delay, delay_ms, seed).
    #[arg(long, value_name = "JSON")]
    faults: Option<String>,

    /// Seconds an idempotency key is remembered [default: 86400].
    #[arg(long, value_name = "SECS")]
    idempotency_ttl: Option<u64>,
}

/// Arguments of `refundkit relay`.
#[derive(Debug, Args)]
struct RelayArgs {
    /// The API base URL refunds are forwarded to (e.g. https://payments.yoco.com).
    #[arg(long, value_name = "URL")]
    upstream: String,

    /// The auth file: JWT issuer, audience and keys, and the roles' limits.
    #[arg(long, value_name = "FILE.toml")]
    auth: PathBuf,

    /// Address to listen on (put a TLS-terminating proxy in front).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,

    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,

    /// The journal of every decision and the daily-limit counters: a SQLite
    /// file, or postgres://USER:PASSWORD@HOST:PORT/DB to share them between
    /// several relays (see docs/scaling.md).
    #[arg(long, value_name = "PATH|URL", default_value = "refundkit-relay.db")]
    journal: PathBuf,

    /// Threads serving requests: 1 (the default) runs everything on one
    /// thread, the fastest on a small machine; more spread the requests
    /// over that many (see docs/adr/0024).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
}

/// Splits `KEY=VALUE` at the first `=`.
fn parse_key_value(arg: &str) -> Result<(String, String), String> {
    arg.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {arg:?}"))
}

/// A duration: a number with `ms`, `s`, `m` or `h` (plain numbers are seconds).
fn parse_duration(arg: &str) -> Result<std::time::Duration, String> {
    let arg = arg.trim();
    let split = arg
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(arg.len());
    let (number, unit) = arg.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("expected a duration like 60s, 2m or 500ms, got {arg:?}"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {arg:?} (use ms, s, m or h)"
            ))
        }
    };
    std::time::Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| {
            *d >= std::time::Duration::from_millis(100)
                && *d <= std::time::Duration::from_secs(86_400)
        })
        .ok_or_else(|| format!("{arg:?} must be between 100ms and 24h"))
}

/// Splits `name: value` at the first `:`, trimming both sides.
fn parse_header(arg: &str) -> Result<(String, String), String> {
    arg.split_once(':')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected \"name: value\", got {arg:?}"))
}

fn main() -> ExitCode {
    // clap exits 2 on usage errors and 0 for --help and --version.
    let cli = Cli::parse();
    let out = Output { json: cli.json };
    let runtime = match &cli.command {
        Command::Relay(args) => refundkit_relay::runtime::build(usize::from(args.threads)),
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            out.error(&CliError::failure(
                "io",
                format!("cannot start the async runtime: {e}"),
            ));
            return Exit::Failure.into();
        }
    };
    let result = runtime.block_on(run(cli.command, out));
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(exit) => exit.into(),
        Err(error) => {
            out.error(&error);
            error.exit.into()
        }
    }
}

async fn run(command: Command, out: Output) -> Result<Exit, CliError> {
    match command {
        Command::Demo => demo::run(out).await,
        Command::Refund(args) if args.from.is_some() || args.status => batch::run(&args, out).await,
        Command::Refund(args) => refund_cmd::run(&args, out).await,
        Command::Webhook(WebhookCommand::Verify(args)) => webhook_cmd::verify(&args, out),
        Command::Emulator(args) => emulator_cmd::run(&args, out).await,
        Command::Relay(args) => relay_cmd::run(&args, out).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
