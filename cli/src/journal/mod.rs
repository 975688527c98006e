//! The batch journal: one stored row per CSV row, holding the idempotency
//! key that row is always sent with and what became of it. A SQLite file
//! for one process ([`sqlite`]), or a PostgreSQL database shared by any
//! number of workers ([`postgres`]).
//!
//! Invariants, whatever the store:
//! - a row's key is committed (at import, in one transaction) before any
//!   request is sent, and a row is only ever sent with its stored key;
//! - the key is stable: the file's `idempotency_key` column or an HMAC of
//!   the row's fields, so even a lost journal derives the same key again;
//! - outcomes are committed in groups: a crash loses at most the last group,
//!   whose rows stay `pending` and are re-sent with their stored keys, and
//!   the service replays them instead of refunding twice.

pub mod postgres;
pub mod sqlite;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use refundkit::keys::RowKeys;
use refundkit::{Refund, RefundRequest};

use crate::csv_rows::{BatchRow, RowError};

/// Most row errors kept for the report; the rest are only counted.
pub const MAX_REPORTED_ERRORS: usize = 100;

/// Where a row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// Key stored; not sent yet, or sent without an answer that settles it.
    /// Sent (again) with the stored key on the next run.
    Pending,
    /// The service made the refund.
    Succeeded,
    /// The service refused it; re-sent only with `--retry-failed`.
    Failed,
    /// It may or may not have been made; re-sent with the stored key.
    Unknown,
}

impl RowState {
    /// The name stored in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }

    /// The state named `s` in the journal.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "unknown" => Self::Unknown,
            _ => return None,
        })
    }

    /// The state an answer leaves a row in: only a status that
    /// [`is_success`](refundkit::RefundStatus::is_success) counts as a
    /// refund; `failed` is a definite refusal; any other status may still
    /// become a refund (unknown).
    pub fn after_refund(refund: &Refund) -> Self {
        if refund.status.is_success() {
            Self::Succeeded
        } else if refund.status.as_str() == "failed" {
            Self::Failed
        } else {
            Self::Unknown
        }
    }

    /// The state a refund error leaves a row in.
    pub fn after_error(error: &refundkit::Error) -> Self {
        if error.is_outcome_unknown() {
            Self::Unknown
        } else if error.is_retryable() {
            Self::Pending
        } else {
            Self::Failed
        }
    }
}

/// A row taken from the journal to be sent now.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// Its line in the CSV file.
    pub line: u64,
    /// The refund, with the row's stored idempotency key.
    pub request: RefundRequest,
}

impl Claimed {
    /// The stored key the row is sent with.
    pub fn key(&self) -> &str {
        self.request.idempotency_key.as_deref().unwrap_or_default()
    }
}

/// What one send did to a row, as the journal records it.
#[derive(Debug, Clone)]
pub struct Settled {
    /// The row's line in the CSV file.
    pub line: u64,
    /// The row's stored key, the one it was sent with.
    pub key: String,
    /// The row's new state.
    pub state: RowState,
    /// The refund id, when the service answered with one.
    pub refund_id: Option<String>,
    /// The status the service gave, as it gave it.
    pub refund_status: Option<String>,
    /// The error kind (`not_found`, …, or `not_successful` for a refund
    /// whose status is not success).
    pub error_kind: Option<String>,
    /// The error's text.
    pub error_message: Option<String>,
    /// The HTTP status of a refused request.
    pub http_status: Option<u16>,
    /// HTTP attempts made.
    pub attempts: u32,
}

impl Settled {
    /// The record of an answer for the row at `line`, in the state
    /// [`RowState::after_refund`] gives: `failed` may be re-sent with a new
    /// key (`--retry-failed`), `unknown` only ever with its key.
    pub fn of_refund(line: u64, refund: &Refund) -> Self {
        let success = refund.status.is_success();
        Self {
            line,
            key: refund.idempotency_key.clone(),
            state: RowState::after_refund(refund),
            refund_id: Some(refund.refund_id.clone()),
            refund_status: Some(refund.status.as_str().to_owned()),
            error_kind: (!success).then(|| NOT_SUCCESSFUL.to_owned()),
            error_message: (!success).then(|| {
                format!(
                    "the service answered with refund status {:?}, not successful",
                    refund.status.as_str()
                )
            }),
            http_status: None,
            attempts: refund.attempts,
        }
    }

    /// The record of a failed call for the row at `line`.
    pub fn of_error(line: u64, key: &str, error: &refundkit::Error) -> Self {
        Self {
            line,
            key: key.to_owned(),
            state: RowState::after_error(error),
            refund_id: None,
            refund_status: None,
            error_kind: Some(error.kind().as_str().to_owned()),
            error_message: Some(error.message().to_owned()),
            http_status: error.status(),
            attempts: error.attempts(),
        }
    }
}

/// The error kind recorded for an accepted request whose refund status is
/// not success (`failed`, `pending`, …).
pub const NOT_SUCCESSFUL: &str = "not_successful";

/// How many rows of the run are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Rows not sent yet, or to be sent again.
    pub pending: u64,
    /// Rows refunded.
    pub succeeded: u64,
    /// Rows refused.
    pub failed: u64,
    /// Rows whose outcome is unknown.
    pub unknown: u64,
}

impl StateCounts {
    /// Every row of the run.
    pub fn total(&self) -> u64 {
        self.pending + self.succeeded + self.failed + self.unknown
    }

    /// The counts of a query that selects [`STATE_COUNT_COLUMNS`], in order.
    pub fn from_columns(counts: [i64; 4]) -> Self {
        let [pending, succeeded, failed, unknown] = counts.map(i64::unsigned_abs);
        Self {
            pending,
            succeeded,
            failed,
            unknown,
        }
    }
}

/// The rows in each state, counted in one pass (a GROUP BY would sort or
/// hash every row), in the order [`StateCounts::from_columns`] reads; the
/// same SQL on SQLite and PostgreSQL.
pub const STATE_COUNT_COLUMNS: &str = "count(*) FILTER (WHERE state = 'pending'),
       count(*) FILTER (WHERE state = 'succeeded'),
       count(*) FILTER (WHERE state = 'failed'),
       count(*) FILTER (WHERE state = 'unknown')";

/// A journal problem: it cannot be reached, opened or written, is in use,
/// or is not ours. Never holds a password.
#[derive(Debug)]
pub struct JournalError(pub String);

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an import did not happen.
#[derive(Debug)]
pub enum ImportError {
    /// Rows that cannot be imported (duplicates, reused keys), at most
    /// [`MAX_REPORTED_ERRORS`] of them, and how many more there were.
    Rows(Vec<RowError>, usize),
    /// The journal failed.
    Journal(JournalError),
}

impl From<JournalError> for ImportError {
    fn from(e: JournalError) -> Self {
        Self::Journal(e)
    }
}

/// Row errors gathered during an import, capped for memory.
#[derive(Debug, Default)]
pub struct RowErrors {
    errors: Vec<RowError>,
    more: usize,
}

impl RowErrors {
    /// Keeps `error` (or counts it once the cap is reached).
    pub fn push(&mut self, error: RowError) {
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(error);
        } else {
            self.more += 1;
        }
    }

    /// Whether no row failed.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The import error, if any row failed.
    pub fn into_result(self) -> Result<(), ImportError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ImportError::Rows(self.errors, self.more))
        }
    }

    /// The kept errors and the count of the others.
    pub fn into_parts(self) -> (Vec<RowError>, usize) {
        (self.errors, self.more)
    }
}

/// Which journal `--journal` names.
#[derive(Debug, Clone)]
pub enum JournalTarget {
    /// A SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl JournalTarget {
    /// A `postgres://` URL, or else a file path.
    pub fn parse(arg: &str) -> Self {
        if arg.starts_with("postgres://") || arg.starts_with("postgresql://") {
            Self::Postgres(arg.to_owned())
        } else {
            Self::Sqlite(PathBuf::from(arg))
        }
    }
}

/// What a run needs to know to open its journal.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run's name (PostgreSQL): `--run`, default the CSV's SHA-256.
    pub run: String,
    /// The CSV file's SHA-256, hex.
    pub csv_sha256: String,
    /// How long a claimed row stays this worker's without a heartbeat.
    pub lease: Duration,
    /// Re-send rows that failed with a definite error.
    pub retry_failed: bool,
}

/// An open journal of either kind.
pub enum Journal {
    /// One process, one file.
    Sqlite(sqlite::SqliteJournal),
    /// Many workers, one database.
    Postgres(postgres::PgJournal),
}

impl Journal {
    /// Opens (creating or migrating the schema) the journal `target` names.
    /// Every connection or authentication problem surfaces here, before
    /// anything is sent.
    pub async fn open(target: &JournalTarget, options: &RunOptions) -> Result<Self, JournalError> {
        Ok(match target {
            JournalTarget::Sqlite(path) => Self::Sqlite(sqlite::SqliteJournal::open(path)?),
            JournalTarget::Postgres(url) => {
                Self::Postgres(postgres::PgJournal::open(url, options).await?)
            }
        })
    }

    /// Where the journal is, for people (a URL without its password).
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(j) => j.describe(),
            Self::Postgres(j) => j.describe(),
        }
    }

    /// Stores every row of the file with its key (existing rows keep the key
    /// they have), in one transaction, before anything is sent. With
    /// `retry_failed`, rows that failed are made pending again.
    pub async fn import(
        &mut self,
        rows: impl Iterator<Item = Result<BatchRow, RowError>>,
        row_keys: &RowKeys,
        options: &RunOptions,
    ) -> Result<(), ImportError> {
        match self {
            Self::Sqlite(j) => j.import(rows, row_keys, options.retry_failed),
            Self::Postgres(j) => j.import(rows, row_keys, options).await,
        }
    }

    /// Rows of this run in each state.
    pub async fn counts(&self) -> Result<StateCounts, JournalError> {
        match self {
            Self::Sqlite(j) => j.counts(),
            Self::Postgres(j) => j.counts().await,
        }
    }

    /// Up to `max` rows to send now, each now held by this process.
    pub async fn claim(&mut self, max: usize) -> Result<Vec<Claimed>, JournalError> {
        match self {
            Self::Sqlite(j) => j.claim(max),
            Self::Postgres(j) => j.claim(max).await,
        }
    }

    /// Commits a group of outcomes in one transaction.
    pub async fn record(&mut self, settled: &[Settled]) -> Result<(), JournalError> {
        if settled.is_empty() {
            return Ok(());
        }
        match self {
            Self::Sqlite(j) => j.record(settled),
            Self::Postgres(j) => j.record(settled).await,
        }
    }

    /// After a claim found nothing: `None` when the run has nothing left
    /// for this process, or how long to wait before claiming again (other
    /// workers hold rows whose leases may yet run out).
    pub async fn wait_for_more(&mut self) -> Result<Option<Duration>, JournalError> {
        match self {
            Self::Sqlite(_) => Ok(None),
            Self::Postgres(j) => j.wait_for_more().await,
        }
    }
}

/// The key a row that failed with a definite error is re-sent with under
/// `--retry-failed`. The service replays a failure for the key that met it
/// (for 24 hours), so a retry needs a new key; it is derived from the old
/// one, so a lost journal derives the same chain again.
pub fn retry_key(row_keys: &RowKeys, previous: &str) -> String {
    row_keys.key(&["refundkit-retry", previous])
}

/// Rows reset per statement by `--retry-failed`.
pub const RETRY_PAGE: usize = 1000;

/// The metadata of a request as stored (JSON text), if any.
pub fn metadata_json(request: &RefundRequest) -> Option<String> {
    request
        .metadata
        .as_ref()
        .map(|m| serde_json::json!(m).to_string())
}

/// The request a stored row describes, with its stored key.
pub fn stored_request(
    checkout_id: String,
    amount: Option<i64>,
    metadata: Option<&str>,
    key: String,
) -> Result<RefundRequest, JournalError> {
    let mut request = RefundRequest::new(checkout_id);
    request.amount = amount;
    if let Some(text) = metadata {
        request.metadata =
            Some(serde_json::from_str(text).map_err(|e| {
                JournalError(format!("journal: unreadable metadata {text:?}: {e}"))
            })?);
    }
    request.idempotency_key = Some(key);
    Ok(request)
}
