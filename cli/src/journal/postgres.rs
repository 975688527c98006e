//! The PostgreSQL journal: any number of worker processes, on any machines,
//! share one run.
//!
//! - The schema is the tool's own, created and migrated by versioned SQL
//!   files (`cli/migrations/postgres/`) under an advisory lock.
//! - A run's rows are imported once: the first worker to take the run's
//!   advisory lock copies the run and all its rows (each with its key) in
//!   with one binary `COPY`, checks for repeated rows and keys, and cuts
//!   the run into ranges of [`RANGE_ROWS`] lines, in one transaction; the
//!   others find the run there and skip the import.
//! - Workers claim ranges, not rows (ADR 0026): `FOR UPDATE SKIP LOCKED`
//!   on the small ranges table, under a lease that a heartbeat extends, so
//!   a claim writes one range row instead of every row it hands out. A dead
//!   worker's ranges are claimed again once its lease ends and their rows
//!   still to send are re-sent with their stored keys, so the service
//!   replays rather than refunds twice.
//! - Outcomes are committed in groups, found by line; the rows table has
//!   only its primary key, so each outcome is a HOT update. A success is
//!   always recorded; any other outcome only while this worker still holds
//!   the row's range, and never over a success. A range is given back when
//!   its last claimed row is recorded: done, or free for other workers if
//!   rows are left to send.
//! - A lost connection (a database restart) is retried for
//!   [`RECONNECT_WINDOW`]; connection problems at start are reported at once,
//!   before anything is sent.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool_postgres::{Pool, PoolError};
use refundkit::keys::RowKeys;
use refundkit_pg::{explain, Schema};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tokio_postgres::Config;

use super::{
    metadata_json, retry_key, stored_request, Claimed, ImportError, JournalError, RowErrors,
    RowState, RunOptions, Settled, StateCounts, RETRY_PAGE, STATE_COUNT_COLUMNS,
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
        (
            3,
            "line ranges",
            include_str!("../../migrations/postgres/0003_line_ranges.sql"),
        ),
    ],
    program: "refundkit",
};

/// How long a lost database connection is retried during a run.
pub const RECONNECT_WINDOW: Duration = Duration::from_secs(60);

/// Rows per range of lines that a worker claims and leases at once.
const RANGE_ROWS: usize = 256;

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
    /// The ranges this worker holds, by first line.
    held: BTreeMap<i64, HeldRange>,
    /// Their first lines, for the heartbeat.
    shared_held: Arc<Mutex<Vec<i64>>>,
    /// The run's rows, once imported or joined.
    rows: Option<i64>,
}

/// A range of lines this worker holds.
#[derive(Debug, Clone, Copy)]
struct HeldRange {
    /// Rows claimed from it whose outcome is not recorded yet.
    outstanding: usize,
    /// Every outcome recorded so far settled its row for good.
    clean: bool,
    /// Its `reopened` count when it was claimed.
    reopened: i32,
}

/// A range just claimed, with its rows still to send.
struct TakenRange {
    first_line: i64,
    reopened: i32,
    rows: Vec<Claimed>,
}

/// A range to give back.
struct Release {
    first_line: i64,
    /// No row of it is left to send (as far as this worker saw).
    clean: bool,
    reopened: i32,
}

impl Release {
    /// `ranges` as the array parameters of a release: first lines, clean
    /// flags, `reopened` counts.
    fn columns(ranges: &[Release]) -> (Vec<i64>, Vec<bool>, Vec<i32>) {
        let firsts = ranges.iter().map(|r| r.first_line).collect();
        let clean = ranges.iter().map(|r| r.clean).collect();
        let reopened = ranges.iter().map(|r| r.reopened).collect();
        (firsts, clean, reopened)
    }
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
    // No write of the batch journal waits for fsync (ADR 0026): every key
    // can be derived again (an HMAC of the row, the file's own column, or
    // a retry key derived from the previous key), so a lost import, claim
    // or outcome only means rows re-sent with their keys and replayed; a
    // lost import is also caught by the row count (`counts`). Migrations
    // still commit synchronously (`refundkit_pg::migrate`).
    // JIT compilation off: the journal's statements touch a few hundred
    // rows each, but a claim's estimate grows with the run, and past
    // `jit_above_cost` compiling it took 20 ms (100k rows) to 1.2 s (1M).
    let options = config.get_options().unwrap_or_default().to_owned();
    config.options(format!("{options} -c synchronous_commit=off -c jit=off").trim_start());
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
            held: BTreeMap::new(),
            shared_held: Arc::default(),
            rows: None,
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
            held: BTreeMap::new(),
            shared_held: Arc::default(),
            rows: None,
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
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&format!("refundkit-run:{}", self.run)],
        )
        .await?;
        let existing = tx
            .query_opt(
                "SELECT csv_sha256, rows FROM refundkit_runs WHERE run = $1",
                &[&self.run],
            )
            .await?;
        match existing {
            Some(row) => {
                let sha: String = row.get(0);
                self.rows = Some(row.get(1));
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
                let (ranges, mut errors) = copy_rows(&tx, &self.run, rows, row_keys).await?;
                refuse_duplicates(&tx, &self.run, &mut errors).await?;
                if !errors.is_empty() {
                    // Dropping the transaction rolls the import back.
                    return Err(PgFailure::Rows(errors));
                }
                ranges.insert(&tx, &self.run).await?;
                self.rows = Some(i64::try_from(ranges.rows).unwrap_or(i64::MAX));
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

    /// Extends the leases of the ranges this worker holds, every third of a
    /// lease, until the journal is dropped.
    fn start_heartbeat(&mut self) {
        let pool = self.pool.clone();
        let (run, worker) = (self.run.clone(), self.worker.clone());
        let held = Arc::clone(&self.shared_held);
        let lease = self.lease.as_secs_f64();
        let every = (self.lease / 3).max(Duration::from_millis(100));
        self.heartbeat = Some(tokio::spawn(async move {
            // The first beat after a third of a lease: a claim has just
            // set the lease, and a short run needs no second connection.
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // A failed beat is retried on the next tick; if the database
                // stays away, the leases end and others take the ranges over.
                let held: Vec<i64> = held.lock().map(|h| h.clone()).unwrap_or_default();
                let _ = heartbeat(&pool, &run, &worker, lease, &held).await;
            }
        }));
    }

    /// Rows of this run in each state.
    ///
    /// Fewer rows than the run was imported with means the database lost
    /// the import (a crash within moments of its asynchronous commit): an
    /// error, so the run does not end as if it had nothing to send.
    pub async fn counts(&self) -> Result<StateCounts, JournalError> {
        let counts = reconnecting!(self, self.try_counts(&self.run))?;
        match self.rows {
            Some(rows) if u64::try_from(rows).unwrap_or_default() != counts.total() => {
                Err(JournalError(format!(
                    "run {:?} in {} has {} of its {rows} rows: the database lost them \
                     (a crash just after the import?); rerun, and every row is sent again \
                     with its key, and replayed where it was made",
                    self.run,
                    self.target,
                    counts.total()
                )))
            }
            _ => Ok(counts),
        }
    }

    async fn try_counts(&self, run: &str) -> Result<StateCounts, PgFailure> {
        let client = self.pool.get().await?;
        // One filtered pass: no grouping (a sort or hash of every row).
        let row = client
            .query_one(
                &format!("SELECT {STATE_COUNT_COLUMNS} FROM refundkit_rows WHERE run = $1"),
                &[&run],
            )
            .await?;
        Ok(StateCounts::from_columns([
            row.get(0),
            row.get(1),
            row.get(2),
            row.get(3),
        ]))
    }

    /// Rows to send now: those still pending or unknown in the next free
    /// ranges (about `max` rows' worth, at least one range), which this
    /// worker now holds under its lease. A range whose holder's lease ended
    /// is taken over; one this worker released with rows left is not.
    pub async fn claim(&mut self, max: usize) -> Result<Vec<Claimed>, JournalError> {
        let ranges = i64::try_from((max / RANGE_ROWS).max(1)).unwrap_or(1);
        loop {
            let taken = reconnecting!(self, self.try_claim(ranges))?;
            if taken.is_empty() {
                return Ok(Vec::new());
            }
            let mut claimed = Vec::new();
            let mut nothing_to_send = Vec::new();
            for range in taken {
                if range.rows.is_empty() {
                    nothing_to_send.push(Release {
                        first_line: range.first_line,
                        clean: true,
                        reopened: range.reopened,
                    });
                    continue;
                }
                self.held.insert(
                    range.first_line,
                    HeldRange {
                        outstanding: range.rows.len(),
                        clean: true,
                        reopened: range.reopened,
                    },
                );
                claimed.extend(range.rows);
            }
            self.share_held();
            if !nothing_to_send.is_empty() {
                reconnecting!(self, self.try_release(&nothing_to_send))?;
            }
            if !claimed.is_empty() {
                return Ok(claimed);
            }
        }
    }

    async fn try_claim(&self, ranges: i64) -> Result<Vec<TakenRange>, PgFailure> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(
                // `first_line = ANY(ARRAY(...))` keeps the update on the
                // primary key whatever the statistics say; `OFFSET 0` keeps
                // the rows' subquery a scan of one range's lines on the
                // primary key (pulled up into a join, it was planned as a
                // scan of the whole run per claim). The rows and
                // `reopened` are read from the statement's snapshot (the
                // plain join `s`, not the locked row), so a --retry-failed
                // that commits while the range is being locked is seen by
                // the release.
                "WITH taken AS (
                     UPDATE refundkit_ranges g
                     SET worker = $2, lease_until = now() + make_interval(secs => $4)
                     WHERE g.run = $1 AND g.first_line = ANY(ARRAY(
                         SELECT first_line FROM refundkit_ranges
                         WHERE run = $1 AND NOT done
                           AND (lease_until IS NULL OR lease_until < now())
                           AND last_worker IS DISTINCT FROM $2
                           AND first_line <> ALL($5)
                         ORDER BY first_line LIMIT $3
                         FOR UPDATE SKIP LOCKED))
                     RETURNING g.first_line, g.last_line)
                 SELECT t.first_line, s.reopened,
                        r.line, r.checkout_id, r.amount, r.metadata, r.idempotency_key
                 FROM taken t
                 JOIN refundkit_ranges s ON s.run = $1 AND s.first_line = t.first_line
                 LEFT JOIN LATERAL (
                     SELECT line, checkout_id, amount, metadata, idempotency_key
                     FROM refundkit_rows
                     WHERE run = $1 AND line BETWEEN t.first_line AND t.last_line
                       AND state IN ('pending', 'unknown')
                     OFFSET 0) r ON true
                 ORDER BY t.first_line, r.line",
            )
            .await?;
        let held: Vec<i64> = self.held.keys().copied().collect();
        let rows = client
            .query(
                &statement,
                &[
                    &self.run,
                    &self.worker,
                    &ranges,
                    &self.lease.as_secs_f64(),
                    &held,
                ],
            )
            .await?;
        let mut taken: Vec<TakenRange> = Vec::new();
        for row in rows {
            let first_line: i64 = row.get(0);
            if taken.last().is_none_or(|t| t.first_line != first_line) {
                taken.push(TakenRange {
                    first_line,
                    reopened: row.get(1),
                    rows: Vec::new(),
                });
            }
            let Some(line) = row.get::<_, Option<i64>>(2) else {
                continue;
            };
            let metadata: Option<String> = row.get(5);
            let claimed = Claimed {
                line: u64::try_from(line).unwrap_or_default(),
                request: stored_request(row.get(3), row.get(4), metadata.as_deref(), row.get(6))?,
            };
            if let Some(range) = taken.last_mut() {
                range.rows.push(claimed);
            }
        }
        Ok(taken)
    }

    /// Gives ranges back: done if every row in them settled for good (and
    /// no --retry-failed reopened them meanwhile), else free for the other
    /// workers (not this one) to send what is left.
    async fn try_release(&self, ranges: &[Release]) -> Result<(), PgFailure> {
        let client = self.pool.get().await?;
        let (firsts, clean, reopened) = Release::columns(ranges);
        let statement = client
            .prepare_cached(
                "UPDATE refundkit_ranges g
                 SET worker = NULL, lease_until = NULL, last_worker = $2,
                     done = x.clean AND g.reopened = x.reopened
                 FROM unnest($3::int8[], $4::bool[], $5::int4[]) AS x(first_line, clean, reopened)
                 WHERE g.run = $1 AND g.first_line = ANY($3) AND g.first_line = x.first_line
                   AND g.worker = $2",
            )
            .await?;
        client
            .execute(
                &statement,
                &[&self.run, &self.worker, &firsts, &clean, &reopened],
            )
            .await?;
        Ok(())
    }

    /// Hands the heartbeat the ranges held now.
    fn share_held(&self) {
        if let Ok(mut shared) = self.shared_held.lock() {
            shared.clear();
            shared.extend(self.held.keys().copied());
        }
    }

    /// The range holding `line`, if this worker holds one.
    fn range_of(&self, line: u64) -> Option<i64> {
        let line = i64::try_from(line).ok()?;
        self.held
            .range(..=line)
            .next_back()
            .map(|(first, _)| *first)
    }

    /// Commits a group of outcomes and this worker's progress, and gives
    /// back the ranges whose every claimed row is now recorded.
    pub async fn record(&mut self, settled: &[Settled]) -> Result<(), JournalError> {
        let firsts: Vec<i64> = settled
            .iter()
            .map(|s| self.range_of(s.line).unwrap_or(-1))
            .collect();
        // What the held ranges will look like once the group is recorded.
        let mut after: BTreeMap<i64, HeldRange> = BTreeMap::new();
        for (s, first) in settled.iter().zip(&firsts) {
            let Some(held) = self.held.get(first) else {
                continue;
            };
            let range = after.entry(*first).or_insert(*held);
            range.outstanding = range.outstanding.saturating_sub(1);
            range.clean &= matches!(s.state, RowState::Succeeded | RowState::Failed);
        }
        let releases: Vec<Release> = after
            .iter()
            .filter(|(_, r)| r.outstanding == 0)
            .map(|(first, r)| Release {
                first_line: *first,
                clean: r.clean,
                reopened: r.reopened,
            })
            .collect();
        reconnecting!(self, self.try_record(settled, &firsts, &releases))?;
        for (first, range) in after {
            if range.outstanding == 0 {
                self.held.remove(&first);
            } else {
                self.held.insert(first, range);
            }
        }
        if !releases.is_empty() {
            self.share_held();
        }
        Ok(())
    }

    async fn try_record(
        &self,
        settled: &[Settled],
        firsts: &[i64],
        releases: &[Release],
    ) -> Result<(), PgFailure> {
        let client = self.pool.get().await?;
        let lines: Vec<i64> = settled
            .iter()
            .map(|s| i64::try_from(s.line).unwrap_or(i64::MAX))
            .collect();
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
        let (released, clean, reopened) = Release::columns(releases);
        let count =
            |state: RowState| -> i64 { settled.iter().filter(|s| s.state == state).count() as i64 };
        // One statement, so one round trip and its own transaction: the
        // outcomes, the ranges given back and this worker's progress commit
        // together. A success is always recorded; any other outcome only
        // while this worker still holds the row's range, and never over a
        // success. Rows are found by line (`line = ANY($3)` keeps that on
        // the primary key) and must still have the key they were sent with.
        let statement = client
            .prepare_cached(
                "WITH mine AS (
                     SELECT first_line FROM refundkit_ranges
                     WHERE run = $1 AND first_line = ANY($4) AND worker = $2
                 ), settled AS (
                     UPDATE refundkit_rows r
                     SET state = u.state, refund_id = coalesce(u.refund_id, r.refund_id),
                         refund_status = u.status, error_kind = u.kind,
                         error_message = u.message, http_status = u.http,
                         attempts = r.attempts + u.attempts, last_worker = $2,
                         updated_at = now()
                     FROM unnest($3::int8[], $4::int8[], $5::text[], $6::text[], $7::text[],
                                 $8::text[], $9::text[], $10::text[], $11::int4[], $12::int4[])
                          AS u(line, first_line, key, state, refund_id, status, kind, message,
                               http, attempts)
                     WHERE r.run = $1 AND r.line = ANY($3) AND r.line = u.line
                       AND r.idempotency_key = u.key
                       AND (u.state = 'succeeded'
                            OR (r.state <> 'succeeded'
                                AND u.first_line IN (SELECT first_line FROM mine)))
                 ), released AS (
                     UPDATE refundkit_ranges g
                     SET worker = NULL, lease_until = NULL, last_worker = $2,
                         done = x.clean AND g.reopened = x.reopened
                     FROM unnest($13::int8[], $14::bool[], $15::int4[])
                          AS x(first_line, clean, reopened)
                     WHERE g.run = $1 AND g.first_line = ANY($13)
                       AND g.first_line = x.first_line AND g.worker = $2
                 )
                 UPDATE refundkit_workers
                 SET sent = sent + $16, succeeded = succeeded + $17, failed = failed + $18,
                     unknown = unknown + $19, heartbeat_at = now()
                 WHERE run = $1 AND worker = $2",
            )
            .await?;
        client
            .execute(
                &statement,
                &[
                    &self.run,
                    &self.worker,
                    &lines,
                    &firsts,
                    &keys,
                    &states,
                    &refund_ids,
                    &statuses,
                    &kinds,
                    &messages,
                    &http,
                    &attempts,
                    &released,
                    &clean,
                    &reopened,
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
    /// could still get, else how long to wait before claiming again (ranges
    /// held by other workers come back if their leases end, and are done
    /// soon after the last of their rows is recorded).
    pub async fn wait_for_more(&self) -> Result<Option<Duration>, JournalError> {
        let (held, claimable) = reconnecting!(self, self.try_outstanding())?;
        Ok((held + claimable > 0).then(|| {
            (self.lease / 16).clamp(Duration::from_millis(50), Duration::from_millis(250))
        }))
    }

    async fn try_outstanding(&self) -> Result<(i64, i64), PgFailure> {
        let client = self.pool.get().await?;
        let held: Vec<i64> = self.held.keys().copied().collect();
        let row = client
            .query_one(
                "SELECT
                     count(*) FILTER (WHERE worker IS NOT NULL AND lease_until >= now()
                                      AND first_line <> ALL($3)),
                     count(*) FILTER (WHERE (lease_until IS NULL OR lease_until < now())
                                      AND last_worker IS DISTINCT FROM $2
                                      AND first_line <> ALL($3))
                 FROM refundkit_ranges
                 WHERE run = $1 AND NOT done",
                &[&self.run, &self.worker, &held],
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
                        (SELECT count(*) FROM refundkit_ranges g
                         JOIN refundkit_rows r ON r.run = g.run
                             AND r.line BETWEEN g.first_line AND g.last_line
                         WHERE g.run = w.run AND g.worker = w.worker
                           AND g.lease_until >= now()
                           AND r.state IN ('pending', 'unknown'))
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

/// One heartbeat: extend the leases of the ranges this worker holds and
/// mark it alive.
async fn heartbeat(
    pool: &Pool,
    run: &str,
    worker: &str,
    lease: f64,
    held: &[i64],
) -> Result<(), PgFailure> {
    let client = pool.get().await?;
    client
        .execute(
            "WITH beat AS (
                 UPDATE refundkit_workers SET heartbeat_at = now()
                 WHERE run = $1 AND worker = $2)
             UPDATE refundkit_ranges SET lease_until = now() + make_interval(secs => $3)
             WHERE run = $1 AND first_line = ANY($4) AND worker = $2",
            &[&run, &worker, &lease, &held],
        )
        .await?;
    Ok(())
}

/// Makes the run's failed rows pending again, each with its next key
/// ([`retry_key`]), a page at a time in file order, and reopens their
/// ranges.
async fn retry_failed_rows(
    tx: &deadpool_postgres::Transaction<'_>,
    run: &str,
    row_keys: &RowKeys,
) -> Result<(), PgFailure> {
    let mut after: i64 = 0;
    loop {
        let failed = tx
            .query(
                "SELECT line, idempotency_key FROM refundkit_rows
                 WHERE run = $1 AND line > $2 AND state = 'failed'
                 ORDER BY line LIMIT $3",
                &[&run, &after, &(RETRY_PAGE as i64)],
            )
            .await?;
        let Some(last) = failed.last() else {
            return Ok(());
        };
        after = last.get(0);
        let lines: Vec<i64> = failed.iter().map(|r| r.get(0)).collect();
        let next: Vec<String> = failed
            .iter()
            .map(|r| retry_key(row_keys, r.get(1)))
            .collect();
        tx.execute(
            "UPDATE refundkit_rows r
             SET state = 'pending', idempotency_key = u.next, last_worker = NULL
             FROM unnest($2::int8[], $3::text[]) AS u(line, next)
             WHERE r.run = $1 AND r.line = ANY($2) AND r.line = u.line",
            &[&run, &lines, &next],
        )
        .await?;
        tx.execute(
            "UPDATE refundkit_ranges
             SET done = false, last_worker = NULL, reopened = reopened + 1
             WHERE run = $1 AND first_line IN (
                 SELECT (SELECT max(first_line) FROM refundkit_ranges
                         WHERE run = $1 AND first_line <= l)
                 FROM unnest($2::int8[]) AS l)",
            &[&run, &lines],
        )
        .await?;
    }
}

/// The ranges of lines of an import: every [`RANGE_ROWS`] rows in file
/// order.
#[derive(Default)]
struct ImportRanges {
    rows: usize,
    first_lines: Vec<i64>,
    last_lines: Vec<i64>,
}

impl ImportRanges {
    fn push(&mut self, line: i64) {
        if self.rows.is_multiple_of(RANGE_ROWS) {
            self.first_lines.push(line);
            self.last_lines.push(line);
        } else if let Some(last) = self.last_lines.last_mut() {
            *last = line;
        }
        self.rows += 1;
    }

    /// Stores the ranges and the run's row count.
    async fn insert(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        run: &str,
    ) -> Result<(), PgFailure> {
        tx.execute(
            "WITH counted AS (UPDATE refundkit_runs SET rows = $4 WHERE run = $1)
             INSERT INTO refundkit_ranges (run, first_line, last_line)
             SELECT $1, * FROM unnest($2::int8[], $3::int8[])",
            &[
                &run,
                &self.first_lines,
                &self.last_lines,
                &i64::try_from(self.rows).unwrap_or(i64::MAX),
            ],
        )
        .await?;
        Ok(())
    }
}

/// Streams the rows into the run with `COPY … (FORMAT binary)`; returns
/// their ranges and the rows that could not be read.
async fn copy_rows(
    tx: &deadpool_postgres::Transaction<'_>,
    run: &str,
    rows: impl Iterator<Item = Result<BatchRow, RowError>>,
    row_keys: &RowKeys,
) -> Result<(ImportRanges, RowErrors), PgFailure> {
    let sink = tx
        .copy_in(
            "COPY refundkit_rows
                 (run, line, checkout_id, amount, metadata, row_digest, idempotency_key)
             FROM STDIN (FORMAT binary)",
        )
        .await?;
    let types = [
        Type::TEXT,
        Type::INT8,
        Type::TEXT,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
    ];
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
    let mut ranges = ImportRanges::default();
    let mut errors = RowErrors::default();
    for item in rows {
        let row = match item {
            Ok(row) => row,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        let line = i64::try_from(row.line).unwrap_or(i64::MAX);
        let metadata = metadata_json(&row.request);
        let key = row.idempotency_key(row_keys);
        writer
            .as_mut()
            .write(&[
                &run,
                &line,
                &row.request.checkout_id,
                &row.request.amount,
                &metadata,
                &row.row_key,
                &key,
            ])
            .await?;
        ranges.push(line);
    }
    writer.as_mut().finish().await?;
    Ok((ranges, errors))
}

/// Adds a row error for each imported row that repeats an earlier row (same
/// digest) or reuses an earlier row's key: the checks the table's unique
/// indexes made before schema version 3, made once per import instead of
/// once per row.
async fn refuse_duplicates(
    tx: &deadpool_postgres::Transaction<'_>,
    run: &str,
    errors: &mut RowErrors,
) -> Result<(), PgFailure> {
    // Byte order ("C") sorts several times faster than a database's
    // linguistic collation, and equality is the same.
    let repeated = tx
        .query_one(
            "SELECT count(*) - count(DISTINCT row_digest COLLATE \"C\"),
                    count(*) - count(DISTINCT idempotency_key COLLATE \"C\")
             FROM refundkit_rows WHERE run = $1",
            &[&run],
        )
        .await?;
    if repeated.get::<_, i64>(0) == 0 && repeated.get::<_, i64>(1) == 0 {
        return Ok(());
    }
    let rows = tx
        .query(
            "WITH digests AS (
                 SELECT row_digest COLLATE \"C\" AS d FROM refundkit_rows WHERE run = $1
                 GROUP BY 1 HAVING count(*) > 1
             ), keys AS (
                 SELECT idempotency_key COLLATE \"C\" AS k FROM refundkit_rows WHERE run = $1
                 GROUP BY 1 HAVING count(*) > 1
             )
             SELECT line, row_digest, idempotency_key FROM refundkit_rows
             WHERE run = $1 AND (row_digest IN (SELECT d FROM digests)
                                 OR idempotency_key IN (SELECT k FROM keys))
             ORDER BY line",
            &[&run],
        )
        .await?;
    // In file order, as the unique indexes refused them: a row is kept
    // unless an earlier kept row has its digest or its key.
    let mut digests: HashMap<String, u64> = HashMap::new();
    let mut keys: HashMap<String, u64> = HashMap::new();
    for row in rows {
        let line = u64::try_from(row.get::<_, i64>(0)).unwrap_or_default();
        let (digest, key): (String, String) = (row.get(1), row.get(2));
        if let Some(first) = digests.get(&digest) {
            errors.push(duplicate_row(line, *first));
        } else if let Some(first) = keys.get(&key) {
            errors.push(super::sqlite::key_in_use(line, Some(*first)));
        } else {
            digests.insert(digest, line);
            keys.insert(key, line);
        }
    }
    Ok(())
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
