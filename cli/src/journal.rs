//! The batch journal: one SQLite row per batch row, holding the
//! idempotency key that row is sent with and what became of it.
//!
//! Invariant: a row's key is committed before its request is sent, and a
//! row is only ever sent with its stored key. A crash at any point therefore
//! leaves either a row that was never sent or one whose retry the service
//! recognises, never a second refund.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use refundkit::{Refund, RefundRequest};
use rusqlite::{params, Connection, OptionalExtension as _};

use crate::csv_rows::BatchRow;

/// Schema version, in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS refunds (
    checkout_id     TEXT NOT NULL,
    row_key         TEXT NOT NULL,
    line            INTEGER NOT NULL,
    amount          INTEGER,
    metadata        TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed', 'unknown')),
    refund_id       TEXT,
    error_kind      TEXT,
    error_message   TEXT,
    http_status     INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (checkout_id, row_key)
) WITHOUT ROWID;
";

/// Where a row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// Key stored; not sent yet, or sent without an answer that settles it.
    /// Sent (again) with the stored key on the next run.
    Pending,
    /// The service accepted the refund.
    Succeeded,
    /// The service refused it; never re-sent.
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

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "unknown" => Self::Unknown,
            _ => return None,
        })
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

    /// Whether a row in this state is sent by the next run.
    pub fn needs_sending(self) -> bool {
        matches!(self, Self::Pending | Self::Unknown)
    }
}

/// What the journal holds for one row.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key the row is always sent with.
    pub idempotency_key: String,
    /// Where the row stands.
    pub state: RowState,
    /// The refund id, once succeeded.
    pub refund_id: Option<String>,
    /// The last error's kind (`not_found`, …).
    pub error_kind: Option<String>,
    /// The last error's text.
    pub error_message: Option<String>,
}

/// A journal problem: the file cannot be opened, is in use, or is not ours.
#[derive(Debug)]
pub struct JournalError(String);

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> Self {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        if busy {
            Self("the journal is in use by another refundkit run".to_owned())
        } else {
            Self(format!("journal: {e}"))
        }
    }
}

/// An open journal, locked for this process until dropped.
pub struct Journal {
    conn: Connection,
}

impl Journal {
    /// Opens or creates the journal at `path` (WAL, full fsync on commit,
    /// exclusive lock so two runs cannot interleave).
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let conn = Connection::open(path)
            .map_err(|e| JournalError(format!("cannot open journal {}: {e}", path.display())))?;
        // Another run holding the lock is reported, not waited for.
        conn.busy_timeout(Duration::from_millis(500))?;
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(JournalError(format!(
                "journal: cannot use WAL mode (got {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        match version {
            0 => {
                conn.execute_batch(SCHEMA)?;
                conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            }
            SCHEMA_VERSION => {}
            other => {
                return Err(JournalError(format!(
                    "{} is a journal of schema version {other}; this refundkit reads version {SCHEMA_VERSION}",
                    path.display()
                )))
            }
        }
        Ok(Self { conn })
    }

    /// The entry of every row, creating pending entries (with a fresh key)
    /// for rows not seen before. All new keys are committed before this
    /// returns, so before anything is sent.
    pub fn prepare(&mut self, rows: &[BatchRow]) -> Result<Vec<Entry>, JournalError> {
        let tx = self.conn.transaction()?;
        let mut entries = Vec::with_capacity(rows.len());
        {
            let mut select = tx.prepare(
                "SELECT idempotency_key, state, refund_id, error_kind, error_message
                 FROM refunds WHERE checkout_id = ?1 AND row_key = ?2",
            )?;
            let mut insert = tx.prepare(
                "INSERT INTO refunds (checkout_id, row_key, line, amount, metadata, idempotency_key, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
            )?;
            let mut touch = tx.prepare(
                "UPDATE refunds SET line = ?3 WHERE checkout_id = ?1 AND row_key = ?2 AND line != ?3",
            )?;
            for row in rows {
                let checkout_id = &row.request.checkout_id;
                let line = i64::try_from(row.line).unwrap_or(i64::MAX);
                let existing = select
                    .query_row(params![checkout_id, row.row_key], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                        ))
                    })
                    .optional()?;
                let entry = match existing {
                    Some((idempotency_key, state, refund_id, error_kind, error_message)) => {
                        let state = RowState::parse(&state).ok_or_else(|| {
                            JournalError(format!("journal: unknown state {state:?}"))
                        })?;
                        touch.execute(params![checkout_id, row.row_key, line])?;
                        Entry {
                            idempotency_key,
                            state,
                            refund_id,
                            error_kind,
                            error_message,
                        }
                    }
                    None => {
                        let key = refundkit::policy::new_idempotency_key();
                        insert.execute(params![
                            checkout_id,
                            row.row_key,
                            line,
                            row.request.amount,
                            metadata_json(&row.request),
                            key,
                        ])?;
                        Entry {
                            idempotency_key: key,
                            state: RowState::Pending,
                            refund_id: None,
                            error_kind: None,
                            error_message: None,
                        }
                    }
                };
                entries.push(entry);
            }
        }
        tx.commit()?;
        Ok(entries)
    }

    /// Records an accepted refund.
    pub fn record_success(&self, row: &BatchRow, refund: &Refund) -> Result<(), JournalError> {
        self.conn.execute(
            "UPDATE refunds SET state = 'succeeded', refund_id = ?3, error_kind = NULL,
                 error_message = NULL, http_status = NULL, attempts = attempts + ?4,
                 updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE checkout_id = ?1 AND row_key = ?2",
            params![
                row.request.checkout_id,
                row.row_key,
                refund.refund_id,
                refund.attempts
            ],
        )?;
        Ok(())
    }

    /// Records a failed call and the state it leaves the row in.
    pub fn record_failure(
        &self,
        row: &BatchRow,
        error: &refundkit::Error,
        state: RowState,
    ) -> Result<(), JournalError> {
        self.conn.execute(
            "UPDATE refunds SET state = ?3, error_kind = ?4, error_message = ?5, http_status = ?6,
                 attempts = attempts + ?7, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE checkout_id = ?1 AND row_key = ?2",
            params![
                row.request.checkout_id,
                row.row_key,
                state.as_str(),
                error.kind().as_str(),
                error.message(),
                error.status(),
                error.attempts(),
            ],
        )?;
        Ok(())
    }
}

fn metadata_json(request: &RefundRequest) -> Option<String> {
    request
        .metadata
        .as_ref()
        .map(|m| serde_json::json!(m).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv_rows::read_rows;

    #[test]
    fn keys_are_stored_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.db");
        let rows = read_rows("ch_1\nch_2,100\n".as_bytes()).expect("rows");
        let first = Journal::open(&path)
            .expect("open")
            .prepare(&rows)
            .expect("prepare");
        let again = Journal::open(&path)
            .expect("reopen")
            .prepare(&rows)
            .expect("prepare");
        let keys = |e: &[Entry]| {
            e.iter()
                .map(|e| e.idempotency_key.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&first), keys(&again));
        assert_ne!(first[0].idempotency_key, first[1].idempotency_key);
        assert!(again.iter().all(|e| e.state == RowState::Pending));
    }

    #[test]
    fn outcomes_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.db");
        let rows = read_rows("ch_1\nch_2\n".as_bytes()).expect("rows");
        {
            let mut journal = Journal::open(&path).expect("open");
            journal.prepare(&rows).expect("prepare");
            let error = refundkit::Error::new(refundkit::ErrorKind::NotFound, "Checkout not found");
            journal
                .record_failure(&rows[1], &error, RowState::after_error(&error))
                .expect("record");
        }
        let entries = Journal::open(&path)
            .expect("reopen")
            .prepare(&rows)
            .expect("prepare");
        assert_eq!(entries[0].state, RowState::Pending);
        assert_eq!(entries[1].state, RowState::Failed);
        assert_eq!(entries[1].error_kind.as_deref(), Some("not_found"));
    }

    #[test]
    fn a_second_run_cannot_open_a_journal_in_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.db");
        let rows = read_rows("ch_1\n".as_bytes()).expect("rows");
        let mut first = Journal::open(&path).expect("open");
        first.prepare(&rows).expect("prepare");
        let second = Journal::open(&path).and_then(|mut j| j.prepare(&rows).map(drop));
        assert!(second.is_err());
    }
}
