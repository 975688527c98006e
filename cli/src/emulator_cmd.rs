//! `refundkit emulator`: serve the local Checkout API until told to stop.
//!
//! Other test suites start this binary and read its first stdout line, so
//! that line is exactly `listening on http://HOST:PORT` (or, with `--json`,
//! one JSON object with `url`) and is flushed before anything is served.

use std::time::Duration;

use refundkit_emulator::{Emulator, EmulatorConfig, Faults};
use serde_json::json;

use crate::exit::{CliError, Exit};
use crate::output::Output;
use crate::EmulatorArgs;

/// Starts the emulator, announces its address, and serves until SIGINT or
/// SIGTERM, then shuts down cleanly.
pub async fn run(args: &EmulatorArgs, out: Output) -> Result<Exit, CliError> {
    let config = config_from(args)?;
    if !args.host.is_loopback() {
        out.note(format_args!(
            "warning: listening on {}, not loopback: anyone who can reach this address can use \
             the unauthenticated /_emulator endpoints (pay checkouts, set faults, read the \
             ledger, reset everything) and, without --secret-key, any well-formed key",
            args.host
        ));
    }
    // Watch for signals before announcing, so that a supervisor that stops
    // us right after reading the line still gets a clean shutdown.
    let shutdown = ShutdownSignal::install()?;
    let emulator = Emulator::start(config).await.map_err(|e| {
        CliError::failure(
            "io",
            format!("cannot listen on {}:{}: {e}", args.host, args.port),
        )
    })?;
    let url = format!("http://{}", emulator.addr());
    if out.json {
        out.document(&json!({ "listening": url }));
    } else {
        out.line(format_args!("listening on {url}"));
    }
    shutdown.wait().await;
    emulator.shutdown().await;
    Ok(Exit::Success)
}

fn config_from(args: &EmulatorArgs) -> Result<EmulatorConfig, CliError> {
    let faults: Faults = match &args.faults {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| CliError::usage(format!("--faults is not valid fault JSON: {e}")))?,
        None => Faults::default(),
    };
    let defaults = EmulatorConfig::default();
    let webhook_time_scale = args
        .webhook_time_scale
        .unwrap_or(defaults.webhook_time_scale);
    Ok(EmulatorConfig {
        host: args.host,
        port: args.port,
        secret_keys: args.secret_keys.clone(),
        webhook_time_scale,
        faults,
        idempotency_ttl: args
            .idempotency_ttl
            .map_or(defaults.idempotency_ttl, Duration::from_secs),
    })
}

/// The largest `--webhook-time-scale`: 1000 turns the last 10 h retry
/// delay into more than a year already.
const MAX_WEBHOOK_TIME_SCALE: f64 = 1000.0;

/// Parses `--webhook-time-scale`: a number from 0 to
/// [`MAX_WEBHOOK_TIME_SCALE`]; NaN, infinities and negatives are refused.
pub fn parse_time_scale(arg: &str) -> Result<f64, String> {
    let scale: f64 = arg
        .trim()
        .parse()
        .map_err(|_| format!("{arg:?} is not a number"))?;
    if (0.0..=MAX_WEBHOOK_TIME_SCALE).contains(&scale) {
        Ok(scale)
    } else {
        Err(format!(
            "must be a number from 0 to {MAX_WEBHOOK_TIME_SCALE}, got {arg}"
        ))
    }
}

/// SIGINT (Ctrl-C) or SIGTERM, whichever comes first.
pub(crate) struct ShutdownSignal {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    /// Replaces the default "die at once" action of both signals.
    pub(crate) fn install() -> Result<Self, CliError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let io = |e: std::io::Error| {
                CliError::failure("io", format!("cannot watch for signals: {e}"))
            };
            Ok(Self {
                terminate: signal(SignalKind::terminate()).map_err(io)?,
                interrupt: signal(SignalKind::interrupt()).map_err(io)?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Resolves when either signal arrives.
    pub(crate) async fn wait(mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => {}
                _ = self.interrupt.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
