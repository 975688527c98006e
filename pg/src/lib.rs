//! refundkit-pg: the PostgreSQL plumbing shared by the CLI's batch journal
//! (`refundkit refund --journal postgres://…`) and the relay's journal
//! (`refundkit relay --journal postgres://…`), so both connect, migrate and
//! report failures the same way (ADR 0017, ADR 0021).
//!
//! - [`parse_url`]: a `postgres://` URL to a driver configuration and a
//!   printable target without the password.
//! - [`connect`]: a `deadpool-postgres` pool, checked by connecting once, so
//!   a bad host or password is reported at start.
//! - [`migrate`]: versioned SQL files applied once each, in one transaction,
//!   under an advisory lock (concurrent first starts are safe).
//! - [`explain`], [`is_transient`]: what a driver error means.

use std::str::FromStr as _;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Config, NoTls};

pub use deadpool_postgres;
pub use tokio_postgres;

/// A failure to parse, connect or migrate. The text never holds the URL's
/// password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PgError(pub String);

/// Connect timeout used when the URL sets none.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Parses a `postgres://` URL given to `--journal`; returns the driver's
/// configuration and `postgres://USER@HOST:PORT/DB` to name it in messages.
/// The error never repeats the URL (it may hold a password).
pub fn parse_url(url: &str) -> Result<(Config, String), PgError> {
    let mut config = Config::from_str(url).map_err(|e| {
        PgError(format!(
            "invalid PostgreSQL URL in --journal ({e}); expected \
             postgres://USER:PASSWORD@HOST:PORT/DATABASE"
        ))
    })?;
    if config.get_hosts().is_empty() {
        return Err(PgError(
            "invalid PostgreSQL URL in --journal: it names no host".to_owned(),
        ));
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => String::new(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    let db = config.get_dbname().unwrap_or(user);
    let target = format!("postgres://{user}@{host}:{port}/{db}");
    Ok((config, target))
}

/// A pool of at most `size` connections for `config`, checked by connecting
/// once: an unreachable server or a refused password is reported here,
/// naming `target`, before anything else happens.
pub async fn connect(config: Config, target: &str, size: usize) -> Result<Pool, PgError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(size)
        .build()
        .map_err(|e| PgError(format!("PostgreSQL journal {target}: {e}")))?;
    if let Err(e) = pool.get().await {
        return Err(PgError(format!(
            "cannot connect to the PostgreSQL journal {target}: {}",
            explain_pool(&e)
        )));
    }
    Ok(pool)
}

/// One schema: its migrations table, the advisory lock serialising them,
/// and the versioned SQL files, oldest first.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The table recording applied versions (a trusted identifier).
    pub table: &'static str,
    /// The `pg_advisory_xact_lock` key.
    pub lock: i64,
    /// `(version, name, SQL)`, versions increasing from 1.
    pub migrations: &'static [(i32, &'static str, &'static str)],
    /// Who to upgrade when the database is newer ("refundkit").
    pub program: &'static str,
}

/// Creates or upgrades `schema`, each missing migration once, in one
/// transaction committed synchronously, under its advisory lock so that
/// concurrent first starts apply each once. A database migrated by a newer
/// version is refused.
pub async fn migrate(pool: &Pool, target: &str, schema: &Schema) -> Result<(), PgError> {
    let failed =
        |e: tokio_postgres::Error| PgError(format!("PostgreSQL journal {target}: {}", explain(&e)));
    let mut client = pool
        .get()
        .await
        .map_err(|e| PgError(format!("PostgreSQL journal {target}: {}", explain_pool(&e))))?;
    let tx = client.transaction().await.map_err(failed)?;
    tx.batch_execute("SET LOCAL synchronous_commit = on")
        .await
        .map_err(failed)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema.lock])
        .await
        .map_err(failed)?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {} (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        schema.table
    ))
    .await
    .map_err(failed)?;
    let applied: i32 = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {}", schema.table),
            &[],
        )
        .await
        .map_err(failed)?
        .get(0);
    let latest = schema.migrations.last().map_or(0, |m| m.0);
    if applied > latest {
        return Err(PgError(format!(
            "the PostgreSQL journal {target} has schema version {applied}; this {} knows up \
             to {latest}: upgrade {}",
            schema.program, schema.program
        )));
    }
    for (version, name, sql) in schema.migrations.iter().filter(|m| m.0 > applied) {
        tx.batch_execute(sql).await.map_err(failed)?;
        tx.execute(
            &format!(
                "INSERT INTO {} (version, name) VALUES ($1, $2)",
                schema.table
            ),
            &[version, name],
        )
        .await
        .map_err(failed)?;
    }
    tx.commit().await.map_err(failed)
}

/// Whether the connection, not the statement, failed: worth retrying on a
/// fresh connection.
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        // No SQL state: the socket closed or failed.
        None => e.is_closed() || e.as_db_error().is_none(),
        Some(code) => {
            let class = &code.code()[..2];
            class == "08" // connection exception
                || class == "57" // admin / crash shutdown, cannot connect now
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
        }
    }
}

/// Whether a pool error is worth retrying (a lost connection or a wait).
pub fn is_transient_pool(e: &PoolError) -> bool {
    match e {
        PoolError::Backend(e) => is_transient(e),
        PoolError::Timeout(_) => true,
        _ => false,
    }
}

/// The server's message, or the client's account of the connection
/// failure with its causes.
pub fn explain(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_owned();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// [`explain`] for a pool error.
pub fn explain_pool(e: &PoolError) -> String {
    match e {
        PoolError::Backend(e) => explain(e),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_the_database_without_the_password() {
        let (_, target) =
            parse_url("postgres://alice:s3cret-pw@db.example.com:6543/refunds").expect("valid");
        assert_eq!(target, "postgres://alice@db.example.com:6543/refunds");
    }

    #[test]
    fn bad_urls_are_refused_without_repeating_them() {
        let err = parse_url("postgres://alice:s3cret-pw@db.example.com:notaport/x")
            .expect_err("bad port");
        assert!(err.0.contains("invalid PostgreSQL URL"), "{err}");
        assert!(!err.0.contains("s3cret-pw"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_reported_at_connect() {
        // Port 1 on loopback: nothing listens, the connection is refused.
        let (config, target) =
            parse_url("postgres://alice:s3cret-pw@127.0.0.1:1/refunds").expect("valid");
        let err = connect(config, &target, 1).await.expect_err("refused");
        assert!(
            err.0.starts_with(
                "cannot connect to the PostgreSQL journal postgres://alice@127.0.0.1:1/refunds"
            ),
            "{err}"
        );
        assert!(!err.0.contains("s3cret-pw"), "{err}");
    }
}
