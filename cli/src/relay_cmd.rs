//! `refundkit relay`: the backend apps refund through with a token instead
//! of the secret key. Serves until SIGINT or SIGTERM, then finishes the
//! refunds in flight and exits 0.
//!
//! Like `refundkit emulator`, its first stdout line is exactly
//! `listening on http://HOST:PORT` (or, with `--json`, one JSON object),
//! printed once connections are accepted.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use refundkit_relay::{AuthFile, PgStore, Relay, RelayConfig, RelayStore, SqliteStore, StartError};
use serde_json::json;

use crate::emulator_cmd::ShutdownSignal;
use crate::exit::{CliError, Exit};
use crate::output::Output;
use crate::RelayArgs;

/// Loads the auth file and the journal, starts the relay, announces its
/// address and serves until told to stop.
pub async fn run(args: &RelayArgs, out: Output) -> Result<Exit, CliError> {
    // Problems the relay meets while serving (a journal it cannot write, an
    // unknown outcome) go to stderr; stdout stays the one announcement line.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .try_init();
    let secret_key = std::env::var("REFUNDKIT_SECRET_KEY").map_err(|_| {
        CliError::usage("REFUNDKIT_SECRET_KEY must hold the secret key the relay refunds with")
    })?;
    let auth = AuthFile::load(&args.auth).map_err(|e| CliError::usage(e.to_string()))?;
    let store = open_store(&args.journal).await?;
    let config = RelayConfig::new(
        SocketAddr::new(args.host, args.port),
        args.upstream.clone(),
        secret_key,
        auth,
        |name| std::env::var(name).ok(),
        store,
    )
    .map_err(|e| CliError::usage(e.to_string()))?;
    let shutdown = ShutdownSignal::install()?;
    let relay = Relay::start(config).await.map_err(|e| match e {
        StartError::Config(e) => CliError::usage(e.to_string()),
        StartError::Io(e) => CliError::failure(
            "io",
            format!("cannot listen on {}:{}: {e}", args.host, args.port),
        ),
    })?;
    let url = relay.base_url();
    if out.json {
        out.document(&json!({ "listening": url }));
    } else {
        out.line(format_args!("listening on {url}"));
    }
    shutdown.wait().await;
    relay.shutdown().await;
    Ok(Exit::Success)
}

/// The journal `--journal` names: PostgreSQL for a `postgres://` URL (a bad
/// URL is a usage error; an unreachable server or a refused password fails
/// here, before anything is served), else a SQLite file.
async fn open_store(journal: &Path) -> Result<Arc<dyn RelayStore>, CliError> {
    let text = journal.to_string_lossy();
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        if let Err(e) = refundkit_pg::parse_url(&text) {
            return Err(CliError::usage(format!("--journal: {e}")));
        }
        let store = PgStore::open(&text)
            .await
            .map_err(|e| CliError::failure("io", format!("--journal: {}", e.0)))?;
        return Ok(Arc::new(store));
    }
    let store = SqliteStore::open(journal)
        .map_err(|e| CliError::failure("io", format!("--journal: {}", e.0)))?;
    Ok(Arc::new(store))
}
