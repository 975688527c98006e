//! The PostgreSQL journal: any number of worker processes, on any machines,
//! share one run.
//!
//! - The schema is the tool's own, created and migrated by versioned SQL
//!   files (`cli/migrations/postgres/`) under an advisory lock.
//! - A run's rows are imported once: the first worker to take the run's
//!   advisory lock inserts the run and all its rows (each with its key) in
//!   one transaction; the others find the run there and skip the import.
//! - Workers claim rows with `FOR UPDATE SKIP LOCKED` under a lease that a
//!   heartbeat extends. A dead worker's rows are claimed again once its
//!   lease ends and re-sent with their stored keys, so the service replays
//!   rather than refunds twice.
//! - Outcomes are committed in groups. A success is always recorded; any
//!   other outcome only while the row is still this worker's, and never over
//!   a success.
//! - A lost connection (a database restart) is retried for
//!   [`RECONNECT_WINDOW`]; connection problems at start are reported at once,
//!   before anything is sent.

use std::time::{Duration, Instant};

use deadpool_postgres::{Pool, PoolError};
use refundkit::keys::RowKeys;
use refundkit_pg::{explain, Schema};
use tokio_postgres::Config;

use super::{
    metadata_json, retry_key, stored_request, Claimed, ImportError, JournalError, RowErrors,
    RowState, RunOptions, Settled, StateCounts, RETRY_PAGE,
};
use crate::csv_rows::{duplicate_row, BatchRow, RowError};

/// The schema: its migrations (version, name, SQL) and the advisory lock
/// serialising them ("refundki" in ASCII).
const SCHEMA: Schema = Schema {
    table: "refundkit_migrations",
    lock: 0x7265_6675_6e64_6b69,
    migrations: &[
        (
            1,
            "init",
            include_str!("../../migrations/postgres/0001_init.sql"),
        ),
        (
            2,
            "fillfactor",
            include_str!("../../migrations/postgres/0002_fillfactor.sql"),
        ),
    ],
    program: "refundkit",
};

/// How long a lost database connection is retried during a run.
pub const RECONNECT_WINDOW: Duration = Duration::from_secs(60);

/// Rows inserted per statement during an import.
const IMPORT_CHUNK: usize = 1000;

/// A database operation's failure: retried if the connection was lost.
enum PgFailure {
    Pool(PoolError),
    Db(tokio_postgres::Error),
    Journal(JournalError),
    /// Rows the import refused (its transaction is rolled back).
    Rows(RowErrors),
}

impl From<PoolError> for PgFailure {
    fn from(e: PoolError) -> Self {
        Self::Pool(e)
    }
}

impl From<tokio_postgres::Error> for PgFailure {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

impl From<JournalError> for PgFailure {
    fn from(e: JournalError) -> Self {
        Self::Journal(e)
    }
}

impl PgFailure {
    /// Whether the connection, not the statement, failed: worth retrying.
    fn is_transient(&self) -> bool {
        match self {
            Self::Pool(e) => refundkit_pg::is_transient_pool(e),
            Self::Db(e) => refundkit_pg::is_transient(e),
            Self::Journal(_) | Self::Rows(_) => false,
        }
    }

    fn into_journal_error(self, target: &str) -> JournalError {
        match self {
            Self::Pool(PoolError::Backend(e)) | Self::Db(e) => {
                JournalError(format!("PostgreSQL journal {target}: {}", explain(&e)))
            }
            Self::Pool(e) => JournalError(format!("PostgreSQL journal {target}: {e}")),
            Self::Journal(e) => e,
            Self::Rows(_) => JournalError(format!("PostgreSQL journal {target}: rows refused")),
        }
    }
}

/// Runs `$op` (an expression making a future of `Result<T, PgFailure>`)
/// again while the connection is lost, for up to [`RECONNECT_WINDOW`].
macro_rules! reconnecting {
    ($self:ident, $op:expr) => {{
        let deadline = Instant::now() + RECONNECT_WINDOW;
        let mut pause = Duration::from_millis(100);
        loop {
            match $op.await {
                Ok(value) => break Ok(value),
                Err(e) if e.is_transient() && Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => break Err(e.into_journal_error(&$self.target)),
            }
        }
    }};
}

/// An open PostgreSQL journal for one run and one worker.
pub struct PgJournal {
    pool: Pool,
    /// `user@host:port/db`, never the password.
    target: String,
    run: String,
    worker: String,
    lease: Duration,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for PgJournal {
    fn drop(&mut self) {
        if let Some(task) = self.heartbeat.take() {
            task.abort();
        }
    }
}

/// Parses a `postgres://` URL ([`refundkit_pg::parse_url`]); the batch
/// journal's sessions do not wait for fsync. The error never repeats the
/// URL (it may hold a password).
pub fn parse_url(url: &str) -> Result<(Config, String), JournalError> {
    let (mut config, target) = refundkit_pg::parse_url(url).map_err(|e| JournalError(e.0))?;
    // Claims, outcomes and heartbeats need no fsync wait: a lost one leaves
    // a row that is re-sent with its stored key and replayed. The import,
    // which stores the keys, commits synchronously (`SET LOCAL`).
    let options = config.get_options().unwrap_or_default().to_owned();
    config.options(format!("{options} -c synchronous_commit=off").trim_start());
    Ok((config, target))
}

/// A connection pool for `url`, checked by connecting once.
async fn connect(url: &str, size: usize) -> Result<(Pool, String), JournalError> {
    let (config, target) = parse_url(url)?;
    let pool = refundkit_pg::connect(config, &target, size)
        .await
        .map_err(|e| JournalError(e.0))?;
    Ok((pool, target))
}

/// Creates or upgrades the schema ([`refundkit_pg::migrate`]).
async fn migrate(pool: &Pool, target: &str) -> Result<(), JournalError> {
    refundkit_pg::migrate(pool, target, &SCHEMA)
        .await
        .map_err(|e| JournalError(e.0))
}

/// This process's name among the run's workers: host, pid and a random tag.
fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let tag: u16 = rand::random();
    format!("{host}:{}:{tag:04x}", std::process::id())
}

impl PgJournal {
    /// Connects, migrates the schema and names this worker.
    pub async fn open(url: &str, options: &RunOptions) -> Result<Self, JournalError> {
        let (pool, target) = connect(url, 4).await?;
        migrate(&pool, &target).await?;
        Ok(Self {
            pool,
            target,
            run: options.run.clone(),
            worker: worker_name(),
            lease: options.lease,
            heartbeat: None,
        })
    }

    /// Connects and migrates for `--status` (no run, no worker).
    pub async fn open_for_status(url: &str) -> Result<Self, JournalError> {
        let (pool, target) = connect(url, 1).await?;
        migrate(&pool, &target).await?;
        Ok(Self {
            pool,
            target,
            run: String::new(),
            worker: String::new(),
            lease: Duration::ZERO,
            heartbeat: None,
        })
    }

    /// The database (without its password), the run and this worker.
    pub fn describe(&self) -> String {
        if self.worker.is_empty() {
            self.target.clone()
        } else {
            format!("{} run {} worker {}", self.target, self.run, self.worker)
        }
    }

    /// Imports the run's rows unless another worker already has, registers
    /// this worker and starts its heartbeat.
    pub async fn import(
        &mut self,
        rows: impl Iterator<Item = Result<BatchRow, RowError>>,
        row_keys: &RowKeys,
        options: &RunOptions,
    ) -> Result<(), ImportError> {
        match self.try_import(rows, row_keys, options).await {
            Ok(()) => {}
            Err(PgFailure::Rows(errors)) => {
                let (errors, more) = errors.into_parts();
                return Err(ImportError::Rows(errors, more));
            }
            Err(e) => return Err(e.into_journal_error(&self.target).into()),
        }
        self.start_heartbeat();
        Ok(())
    }

    async fn try_import(
        &mut self,
        rows: impl Iterator<Item = Result<BatchRow, RowError>>,
        row_keys: &RowKeys,
        options: &RunOptions,
    ) -> Result<(), PgFailure> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.batch_execute("SET LOCAL synchronous_commit = on")
            .await?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&format!("refundkit-run:{}", self.run)],
        )
        .await?;
        let existing = tx
            .query_opt(
                "SELECT csv_sha256 FROM refundkit_runs WHERE run = $1",
                &[&self.run],
            )
            .await?;
        match existing {
            Some(row) => {
                let sha: String = row.get(0);
                if sha != options.csv_sha256 {
                    return Err(PgFailure::Journal(JournalError(format!(
                        "run {:?} in {} was imported from another file (SHA-256 {sha}); \
                         give this file its own --run name",
                        self.run, self.target
                    ))));
                }
            }
            None => {
                tx.execute(
                    "INSERT INTO refundkit_runs (run, csv_sha256) VALUES ($1, $2)",
                    &[&self.run, &options.csv_sha256],
                )
                .await?;
                let errors = import_rows(&tx, &self.run, rows, row_keys).await?;
                if !errors.is_empty() {
                    // Dropping the transaction rolls the import back.
                    return Err(PgFailure::Rows(errors));
                }
                tx.execute(
                    "UPDATE refundkit_runs SET rows =
                         (SELECT count(*) FROM refundkit_rows WHERE run = $1)
                     WHERE run = $1",
                    &[&self.run],
                )
                .await?;
            }
        }
        if options.retry_failed {
            retry_failed_rows(&tx, &self.run, row_keys).await?;
        }
        tx.execute(
            "INSERT INTO refundkit_workers (run, worker) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            &[&self.run, &self.worker],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Extends the leases of the rows this worker holds, every third of a
    /// lease, until the journal is dropped.
    fn start_heartbeat(&mut self) {
        let pool = self.pool.clone();
        let (run, worker) = (self.run.clone(), self.worker.clone());
        let lease = self.lease.as_secs_f64();
        let every = (self.lease / 3).max(Duration::from_millis(100));
        self.heartbeat = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // A failed beat is retried on the next tick; if the database
                // stays away, the leases end and others take the rows over.
                let _ = heartbeat(&pool, &run, &worker, lease).await;
            }
        }));
    }

    /// Rows of this run in each state.
    pub async fn counts(&self) -> Result<StateCounts, JournalError> {
        reconnecting!(self, self.try_counts(&self.run))
    }

    async fn try_counts(&self, run: &str) -> Result<StateCounts, PgFailure> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT state, count(*) FROM refundkit_rows WHERE run = $1 GROUP BY state",
                &[&run],
            )
            .await?;
        let mut counts = StateCounts::default();
        for row in rows {
            let state: String = row.get(0);
            let count: i64 = row.get(1);
            if let Some(state) = RowState::parse(&state) {
                counts.add(state, u64::try_from(count).unwrap_or_default());
            }
        }
        Ok(counts)
    }

    /// Up to `max` rows nobody holds (or whose holder's lease ended), in
    /// file order, now leased to this worker.
    pub async fn claim(&mut self, max: usize) -> Result<Vec<Claimed>, JournalError> {
        reconnecting!(self, self.try_claim(max))
    }

    async fn try_claim(&self, max: usize) -> Result<Vec<Claimed>, PgFailure> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(
                // `line = ANY(ARRAY(...))` keeps the update on the primary
                // key whatever the statistics say (a join with the claimed
                // lines was planned as a scan of the whole run per line).
                "UPDATE refundkit_rows r
                 SET worker = $2, lease_until = now() + make_interval(secs => $4)
                 WHERE r.run = $1 AND r.line = ANY(ARRAY(
                     SELECT line FROM refundkit_rows
                     WHERE run = $1 AND state IN ('pending', 'unknown')
                       AND (lease_until IS NULL OR lease_until < now())
                       AND last_worker IS DISTINCT FROM $2
                     ORDER BY line LIMIT $3
                     FOR UPDATE SKIP LOCKED))
                 RETURNING r.line, r.checkout_id, r.amount, r.metadata, r.idempotency_key",
            )
            .await?;
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let rows = client
            .query(
                &statement,
                &[&self.run, &self.worker, &limit, &self.lease.as_secs_f64()],
            )
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let line: i64 = row.get(0);
            let metadata: Option<String> = row.get(3);
            claimed.push(Claimed {
                line: u64::try_from(line).unwrap_or_default(),
                request: stored_request(row.get(1), row.get(2), metadata.as_deref(), row.get(4))?,
            });
        }
        claimed.sort_by_key(|c| c.line);
        Ok(claimed)
    }

    /// Commits a group of outcomes and this worker's progress.
    pub async fn record(&mut self, settled: &[Settled]) -> Result<(), JournalError> {
        reconnecting!(self, self.try_record(settled))
    }

    async fn try_record(&self, settled: &[Settled]) -> Result<(), PgFailure> {
        let client = self.pool.get().await?;
        let keys: Vec<&str> = settled.iter().map(|s| s.key.as_str()).collect();
        let states: Vec<&str> = settled.iter().map(|s| s.state.as_str()).collect();
        let refund_ids: Vec<Option<&str>> =
            settled.iter().map(|s| s.refund_id.as_deref()).collect();
        let statuses: Vec<Option<&str>> =
            settled.iter().map(|s| s.refund_status.as_deref()).collect();
        let kinds: Vec<Option<&str>> = settled.iter().map(|s| s.error_kind.as_deref()).collect();
        let messages: Vec<Option<&str>> =
            settled.iter().map(|s| s.error_message.as_deref()).collect();
        let http: Vec<Option<i32>> = settled
            .iter()
            .map(|s| s.http_status.map(i32::from))
            .collect();
        let attempts: Vec<i32> = settled
            .iter()
            .map(|s| i32::try_from(s.attempts).unwrap_or(i32::MAX))
            .collect();
        let count =
            |state: RowState| -> i64 { settled.iter().filter(|s| s.state == state).count() as i64 };
        // One statement, so one round trip and its own transaction: the
        // outcomes and this worker's progress commit together.
        let statement = client
            .prepare_cached(
                "WITH settled AS (
                     UPDATE refundkit_rows r
                     SET state = u.state, refund_id = coalesce(u.refund_id, r.refund_id),
                         refund_status = u.status, error_kind = u.kind,
                         error_message = u.message, http_status = u.http,
                         attempts = r.attempts + u.attempts, worker = NULL,
                         lease_until = NULL, last_worker = $2, updated_at = now()
                     FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                 $8::text[], $9::int4[], $10::int4[])
                          AS u(key, state, refund_id, status, kind, message, http, attempts)
                     WHERE r.run = $1 AND r.idempotency_key = u.key
                       AND (u.state = 'succeeded'
                            OR (r.worker = $2 AND r.state <> 'succeeded')))
                 UPDATE refundkit_workers
                 SET sent = sent + $11, succeeded = succeeded + $12, failed = failed + $13,
                     unknown = unknown + $14, heartbeat_at = now()
                 WHERE run = $1 AND worker = $2",
            )
            .await?;
        client
            .execute(
                &statement,
                &[
                    &self.run,
                    &self.worker,
                    &keys,
                    &states,
                    &refund_ids,
                    &statuses,
                    &kinds,
                    &messages,
                    &http,
                    &attempts,
                    &(settled.len() as i64),
                    &count(RowState::Succeeded),
                    &count(RowState::Failed),
                    &(count(RowState::Unknown) + count(RowState::Pending)),
                ],
            )
            .await?;
        Ok(())
    }

    /// After an empty claim: `None` when no row is left that this worker
    /// could still get, else how long to wait before claiming again (rows
    /// held by other workers come back if their leases end).
    pub async fn wait_for_more(&self) -> Result<Option<Duration>, JournalError> {
        let (held, claimable) = reconnecting!(self, self.try_outstanding())?;
        Ok((held + claimable > 0)
            .then(|| (self.lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(1))))
    }

    async fn try_outstanding(&self) -> Result<(i64, i64), PgFailure> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT
                     count(*) FILTER (WHERE worker IS NOT NULL AND worker <> $2
                                      AND lease_until >= now()),
                     count(*) FILTER (WHERE (worker IS NULL OR lease_until < now())
                                      AND last_worker IS DISTINCT FROM $2)
                 FROM refundkit_rows
                 WHERE run = $1 AND state IN ('pending', 'unknown')",
                &[&self.run, &self.worker],
            )
            .await?;
        Ok((row.get(0), row.get(1)))
    }

    /// Every run in the database: (name, rows, created).
    pub async fn runs(&self) -> Result<Vec<(String, i64, String)>, JournalError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| PgFailure::from(e).into_journal_error(&self.target))?;
        let rows = client
            .query(
                "SELECT run, rows, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                 FROM refundkit_runs ORDER BY created_at",
                &[],
            )
            .await
            .map_err(|e| PgFailure::from(e).into_journal_error(&self.target))?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// The state counts and each worker's progress for `run`.
    pub async fn status(&self, run: &str) -> Result<RunStatus, JournalError> {
        let counts = reconnecting!(self, self.try_counts(run))?;
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| PgFailure::from(e).into_journal_error(&self.target))?;
        let rows = client
            .query(
                "SELECT w.worker, w.sent, w.succeeded, w.failed, w.unknown,
                        extract(epoch FROM now() - w.heartbeat_at)::float8,
                        (SELECT count(*) FROM refundkit_rows r
                         WHERE r.run = w.run AND r.worker = w.worker
                           AND r.lease_until >= now())
                 FROM refundkit_workers w WHERE w.run = $1 ORDER BY w.started_at",
                &[&run],
            )
            .await
            .map_err(|e| PgFailure::from(e).into_journal_error(&self.target))?;
        let workers = rows
            .into_iter()
            .map(|r| WorkerProgress {
                worker: r.get(0),
                sent: r.get(1),
                succeeded: r.get(2),
                failed: r.get(3),
                unknown: r.get(4),
                seconds_since_heartbeat: r.get(5),
                holding: r.get(6),
            })
            .collect();
        Ok(RunStatus { counts, workers })
    }
}

/// One heartbeat: extend this worker's leases and mark it alive.
async fn heartbeat(pool: &Pool, run: &str, worker: &str, lease: f64) -> Result<(), PgFailure> {
    let client = pool.get().await?;
    client
        .execute(
            "UPDATE refundkit_rows SET lease_until = now() + make_interval(secs => $3)
             WHERE run = $1 AND worker = $2 AND state IN ('pending', 'unknown')",
            &[&run, &worker, &lease],
        )
        .await?;
    client
        .execute(
            "UPDATE refundkit_workers SET heartbeat_at = now() WHERE run = $1 AND worker = $2",
            &[&run, &worker],
        )
        .await?;
    Ok(())
}

/// Makes the run's failed rows pending again, each with its next key
/// ([`retry_key`]), a page at a time.
async fn retry_failed_rows(
    tx: &deadpool_postgres::Transaction<'_>,
    run: &str,
    row_keys: &RowKeys,
) -> Result<(), PgFailure> {
    loop {
        let keys: Vec<String> = tx
            .query(
                "SELECT idempotency_key FROM refundkit_rows
                 WHERE run = $1 AND state = 'failed' LIMIT $2",
                &[&run, &(RETRY_PAGE as i64)],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let next: Vec<String> = keys.iter().map(|k| retry_key(row_keys, k)).collect();
        tx.execute(
            "UPDATE refundkit_rows r
             SET state = 'pending', idempotency_key = u.next, last_worker = NULL,
                 worker = NULL, lease_until = NULL
             FROM unnest($2::text[], $3::text[]) AS u(key, next)
             WHERE r.run = $1 AND r.idempotency_key = u.key",
            &[&run, &keys, &next],
        )
        .await?;
    }
}

/// Inserts the rows in chunks; returns the rows refused (duplicates, keys
/// used twice).
async fn import_rows(
    tx: &deadpool_postgres::Transaction<'_>,
    run: &str,
    rows: impl Iterator<Item = Result<BatchRow, RowError>>,
    row_keys: &RowKeys,
) -> Result<RowErrors, PgFailure> {
    let insert = tx
        .prepare(
            "INSERT INTO refundkit_rows
                 (run, line, checkout_id, amount, metadata, row_digest, idempotency_key)
             SELECT $1, * FROM unnest($2::int8[], $3::text[], $4::int8[], $5::text[],
                                      $6::text[], $7::text[])
             ON CONFLICT DO NOTHING
             RETURNING line",
        )
        .await?;
    let mut errors = RowErrors::default();
    let mut chunk = ImportChunk::default();
    for item in rows {
        match item {
            Ok(row) => chunk.push(&row, row_keys),
            Err(error) => errors.push(error),
        }
        if chunk.lines.len() >= IMPORT_CHUNK {
            chunk.insert(tx, &insert, run, &mut errors).await?;
        }
    }
    chunk.insert(tx, &insert, run, &mut errors).await?;
    Ok(errors)
}

/// Rows waiting to be inserted, as columns.
#[derive(Default)]
struct ImportChunk {
    lines: Vec<i64>,
    checkout_ids: Vec<String>,
    amounts: Vec<Option<i64>>,
    metadata: Vec<Option<String>>,
    digests: Vec<String>,
    keys: Vec<String>,
}

impl ImportChunk {
    fn push(&mut self, row: &BatchRow, row_keys: &RowKeys) {
        self.lines.push(i64::try_from(row.line).unwrap_or(i64::MAX));
        self.checkout_ids.push(row.request.checkout_id.clone());
        self.amounts.push(row.request.amount);
        self.metadata.push(metadata_json(&row.request));
        self.digests.push(row.row_key.clone());
        self.keys.push(row.idempotency_key(row_keys));
    }

    /// Inserts and empties the chunk; a row that conflicts with one already
    /// in the run becomes a row error naming the other line.
    async fn insert(
        &mut self,
        tx: &deadpool_postgres::Transaction<'_>,
        insert: &tokio_postgres::Statement,
        run: &str,
        errors: &mut RowErrors,
    ) -> Result<(), PgFailure> {
        if self.lines.is_empty() {
            return Ok(());
        }
        let inserted = tx
            .query(
                insert,
                &[
                    &run,
                    &self.lines,
                    &self.checkout_ids,
                    &self.amounts,
                    &self.metadata,
                    &self.digests,
                    &self.keys,
                ],
            )
            .await?;
        if inserted.len() < self.lines.len() {
            let inserted: std::collections::HashSet<i64> =
                inserted.iter().map(|r| r.get(0)).collect();
            for (i, line) in self.lines.iter().enumerate() {
                if inserted.contains(line) {
                    continue;
                }
                let other = tx
                    .query_opt(
                        "SELECT line, row_digest = $2 FROM refundkit_rows
                         WHERE run = $1 AND (row_digest = $2 OR idempotency_key = $3)
                         ORDER BY (row_digest = $2) DESC LIMIT 1",
                        &[&run, &self.digests[i], &self.keys[i]],
                    )
                    .await?;
                let this = u64::try_from(*line).unwrap_or_default();
                errors.push(match other {
                    Some(r) if r.get::<_, bool>(1) => {
                        duplicate_row(this, u64::try_from(r.get::<_, i64>(0)).unwrap_or_default())
                    }
                    Some(r) => {
                        super::sqlite::key_in_use(this, u64::try_from(r.get::<_, i64>(0)).ok())
                    }
                    None => super::sqlite::key_in_use(this, None),
                });
            }
        }
        *self = Self::default();
        Ok(())
    }
}

/// A run's state counts and its workers' progress.
#[derive(Debug)]
pub struct RunStatus {
    /// Rows in each state.
    pub counts: StateCounts,
    /// Every worker that joined the run, in order of arrival.
    pub workers: Vec<WorkerProgress>,
}

/// One worker's part in a run.
#[derive(Debug)]
pub struct WorkerProgress {
    /// `host:pid:tag`.
    pub worker: String,
    /// Outcomes it recorded.
    pub sent: i64,
    /// Of which succeeded.
    pub succeeded: i64,
    /// Of which failed.
    pub failed: i64,
    /// Of which unknown or left to retry.
    pub unknown: i64,
    /// Seconds since its last heartbeat or record.
    pub seconds_since_heartbeat: f64,
    /// Rows it holds under a live lease now.
    pub holding: i64,
}
