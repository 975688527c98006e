//! The SQLite journal: one file, one process at a time (an exclusive lock),
//! WAL with a full fsync on each commit. Rows are imported in one
//! transaction, read back in pages by line, and outcomes committed in
//! groups, so memory does not grow with the file.

use std::path::Path;
use std::time::Duration;

use refundkit::keys::RowKeys;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension as _};

use super::{
    metadata_json, retry_key, stored_request, Claimed, ImportError, JournalError, RowErrors,
    RowState, Settled, StateCounts, RETRY_PAGE, STATE_COUNT_COLUMNS,
};
use crate::csv_rows::{duplicate_row, BatchRow, RowError};

/// The schema's migrations, in order; `PRAGMA user_version` is the number
/// applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_runs.sql"),
    include_str!("../../migrations/sqlite/0003_rowid.sql"),
];

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> Self {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
        );
        if busy {
            Self("the journal is in use by another refundkit run".to_owned())
        } else {
            Self(format!("journal: {e}"))
        }
    }
}

/// An open SQLite journal, locked for this process until dropped.
pub struct SqliteJournal {
    conn: Connection,
    path: String,
    /// This run's mark on the rows of its file.
    run: i64,
    /// Claims resume after this line.
    cursor: i64,
}

impl SqliteJournal {
    /// Opens or creates the journal at `path` (WAL, full fsync on commit
    /// until the import is committed, exclusive lock so two runs cannot
    /// interleave) and migrates it.
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
        let mut journal = Self {
            conn,
            path: path.display().to_string(),
            run: 0,
            cursor: 0,
        };
        journal.migrate()?;
        Ok(journal)
    }

    fn migrate(&mut self) -> Result<(), JournalError> {
        let tx = self.conn.transaction()?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let latest = MIGRATIONS.len() as i64;
        if version > latest {
            return Err(JournalError(format!(
                "{} is a journal of schema version {version}; this refundkit reads up to version {latest}",
                self.path
            )));
        }
        for sql in MIGRATIONS
            .iter()
            .skip(usize::try_from(version).unwrap_or(0))
        {
            tx.execute_batch(sql)?;
        }
        tx.pragma_update(None, "user_version", latest)?;
        tx.commit()?;
        Ok(())
    }

    /// The file's path.
    pub fn describe(&self) -> String {
        self.path.clone()
    }

    /// Marks every row of the file as this run's, inserting new rows
    /// (pending, with their key); refuses duplicate rows and reused keys.
    pub fn import(
        &mut self,
        rows: impl Iterator<Item = Result<BatchRow, RowError>>,
        row_keys: &RowKeys,
        retry_failed: bool,
    ) -> Result<(), ImportError> {
        let tx = self.conn.transaction().map_err(JournalError::from)?;
        let run: i64 = tx
            .query_row(
                "SELECT coalesce(max(seen_run), 0) + 1 FROM refunds",
                [],
                |r| r.get(0),
            )
            .map_err(JournalError::from)?;
        let mut errors = RowErrors::default();
        {
            // One time for the import: strftime costs a third of an insert.
            let now = now_text(&tx)?;
            let mut upsert = tx
                .prepare(
                    "INSERT INTO refunds
                         (checkout_id, row_key, line, amount, metadata, idempotency_key, state,
                          seen_run, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?8)
                     ON CONFLICT (checkout_id, row_key) DO UPDATE
                         SET line = excluded.line, seen_run = excluded.seen_run
                         WHERE refunds.seen_run != excluded.seen_run",
                )
                .map_err(JournalError::from)?;
            let mut line_of_row = tx
                .prepare("SELECT line FROM refunds WHERE checkout_id = ?1 AND row_key = ?2")
                .map_err(JournalError::from)?;
            let mut line_of_key = tx
                .prepare("SELECT line FROM refunds WHERE idempotency_key = ?1")
                .map_err(JournalError::from)?;
            for item in rows {
                let row = match item {
                    Ok(row) => row,
                    Err(error) => {
                        errors.push(error);
                        continue;
                    }
                };
                let line = i64::try_from(row.line).unwrap_or(i64::MAX);
                let key = row.idempotency_key(row_keys);
                let checkout_id = &row.request.checkout_id;
                match upsert.execute(params![
                    checkout_id,
                    row.row_key,
                    line,
                    row.request.amount,
                    metadata_json(&row.request),
                    key,
                    run,
                    now,
                ]) {
                    Ok(0) => {
                        let first: i64 = line_of_row
                            .query_row(params![checkout_id, row.row_key], |r| r.get(0))
                            .map_err(JournalError::from)?;
                        errors.push(duplicate_row(row.line, first.unsigned_abs()));
                    }
                    Ok(_) => {}
                    Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                        let other: Option<i64> = line_of_key
                            .query_row(params![key], |r| r.get(0))
                            .optional()
                            .map_err(JournalError::from)?;
                        errors.push(key_in_use(row.line, other.map(i64::unsigned_abs)));
                    }
                    Err(e) => return Err(JournalError::from(e).into()),
                }
            }
        }
        errors.into_result()?;
        if retry_failed {
            retry_failed_rows(&tx, run, row_keys)?;
        }
        tx.commit().map_err(JournalError::from)?;
        // The keys are on disk (full fsync). Outcomes may be lost to a power
        // failure (never to a crash of this process): such a row is still
        // pending and is re-sent with its stored key, and replayed.
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(JournalError::from)?;
        self.run = run;
        self.cursor = 0;
        Ok(())
    }

    /// Rows of this run in each state.
    pub fn counts(&self) -> Result<StateCounts, JournalError> {
        self.count_states(&count_states_sql(" WHERE seen_run = ?1"), params![self.run])
    }

    /// Rows of the whole journal (every run) in each state.
    pub fn all_counts(&self) -> Result<StateCounts, JournalError> {
        self.count_states(&count_states_sql(""), [])
    }

    /// Runs a [`count_states_sql`] query.
    fn count_states(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<StateCounts, JournalError> {
        Ok(self.conn.query_row(sql, args, |row| {
            Ok(StateCounts::from_columns([
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
            ]))
        })?)
    }

    /// The next rows of the file (by line) that still need sending.
    pub fn claim(&mut self, max: usize) -> Result<Vec<Claimed>, JournalError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT line, checkout_id, amount, metadata, idempotency_key FROM refunds
             WHERE seen_run = ?1 AND line > ?2 AND state IN ('pending', 'unknown')
             ORDER BY line LIMIT ?3",
        )?;
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let mut rows = statement.query(params![self.run, self.cursor, limit])?;
        let mut claimed = Vec::with_capacity(max);
        while let Some(row) = rows.next()? {
            let line: i64 = row.get(0)?;
            let metadata: Option<String> = row.get(3)?;
            let request =
                stored_request(row.get(1)?, row.get(2)?, metadata.as_deref(), row.get(4)?)?;
            self.cursor = line;
            claimed.push(Claimed {
                line: u64::try_from(line).unwrap_or_default(),
                request,
            });
        }
        Ok(claimed)
    }

    /// Commits a group of outcomes.
    pub fn record(&mut self, settled: &[Settled]) -> Result<(), JournalError> {
        let tx = self.conn.transaction()?;
        {
            // One time for the group: strftime costs as much as the update.
            let now = now_text(&tx)?;
            let mut update = tx.prepare_cached(
                "UPDATE refunds SET state = ?2, refund_id = coalesce(?3, refund_id),
                     refund_status = ?4, error_kind = ?5, error_message = ?6, http_status = ?7,
                     attempts = attempts + ?8, updated_at = ?9
                 WHERE idempotency_key = ?1",
            )?;
            for s in settled {
                update.execute(params![
                    s.key,
                    s.state.as_str(),
                    s.refund_id,
                    s.refund_status,
                    s.error_kind,
                    s.error_message,
                    s.http_status,
                    s.attempts,
                    now,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Calls `visit` for each row of this run that is already settled
    /// (succeeded or failed), in file order.
    pub fn for_each_settled(&self, mut visit: impl FnMut(SettledRow)) -> Result<(), JournalError> {
        let mut statement = self.conn.prepare(
            "SELECT line, checkout_id, amount, idempotency_key, state, refund_id, error_kind,
                    error_message
             FROM refunds WHERE seen_run = ?1 AND state IN ('succeeded', 'failed')
             ORDER BY line",
        )?;
        let mut rows = statement.query(params![self.run])?;
        while let Some(row) = rows.next()? {
            let state: String = row.get(4)?;
            visit(SettledRow {
                line: row.get::<_, i64>(0)?.unsigned_abs(),
                checkout_id: row.get(1)?,
                amount: row.get(2)?,
                idempotency_key: row.get(3)?,
                state: RowState::parse(&state).unwrap_or(RowState::Failed),
                refund_id: row.get(5)?,
                error_kind: row.get(6)?,
                error_message: row.get(7)?,
            });
        }
        Ok(())
    }
}

/// Rows in each state; [`SqliteJournal::counts`] narrows it to one run.
fn count_states_sql(filter: &str) -> String {
    format!("SELECT {STATE_COUNT_COLUMNS} FROM refunds{filter}")
}

/// The time now as the journal stores it (UTC, milliseconds), computed
/// once for many rows.
fn now_text(tx: &rusqlite::Transaction<'_>) -> Result<String, JournalError> {
    Ok(
        tx.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", [], |r| {
            r.get(0)
        })?,
    )
}

/// Makes this run's failed rows pending again, each with its next key
/// ([`retry_key`]), a page at a time.
fn retry_failed_rows(
    tx: &rusqlite::Transaction<'_>,
    run: i64,
    row_keys: &RowKeys,
) -> Result<(), JournalError> {
    let mut failed = tx.prepare(
        "SELECT idempotency_key FROM refunds WHERE seen_run = ?1 AND state = 'failed' LIMIT ?2",
    )?;
    let mut reset = tx.prepare(
        "UPDATE refunds SET state = 'pending', idempotency_key = ?2 WHERE idempotency_key = ?1",
    )?;
    loop {
        let keys: Vec<String> = failed
            .query_map(params![run, RETRY_PAGE as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if keys.is_empty() {
            return Ok(());
        }
        for key in keys {
            reset.execute(params![key, retry_key(row_keys, &key)])?;
        }
    }
}

/// A row an earlier run settled, as the journal holds it.
#[derive(Debug, Clone)]
pub struct SettledRow {
    /// Its line in the current file.
    pub line: u64,
    /// The checkout.
    pub checkout_id: String,
    /// The amount, if partial.
    pub amount: Option<i64>,
    /// The stored key.
    pub idempotency_key: String,
    /// Succeeded or failed.
    pub state: RowState,
    /// The refund id, once succeeded.
    pub refund_id: Option<String>,
    /// The last error's kind.
    pub error_kind: Option<String>,
    /// The last error's text.
    pub error_message: Option<String>,
}

/// The error for a row whose explicit key another row already has.
pub fn key_in_use(line: u64, other: Option<u64>) -> RowError {
    let other = other.map_or_else(|| "another row".to_owned(), |l| format!("line {l}"));
    RowError {
        line,
        message: format!(
            "its idempotency key is already used by {other} of the journal with other values; \
             one key refunds one thing"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv_rows::RowReader;

    const SECRET: &str = "sk_test_journal";

    fn import(journal: &mut SqliteJournal, text: &str) -> Result<(), ImportError> {
        journal.import(
            RowReader::new(text.as_bytes()),
            &RowKeys::new(SECRET),
            false,
        )
    }

    fn keys(journal: &mut SqliteJournal) -> Vec<String> {
        journal
            .claim(100)
            .expect("claim")
            .iter()
            .map(|c| c.key().to_owned())
            .collect()
    }

    #[test]
    fn keys_are_stored_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.db");
        let mut first = SqliteJournal::open(&path).expect("open");
        import(&mut first, "ch_1\nch_2,100\n").expect("import");
        let first_keys = keys(&mut first);
        drop(first);
        let mut again = SqliteJournal::open(&path).expect("reopen");
        import(&mut again, "ch_1\nch_2,100\n").expect("import");
        assert_eq!(keys(&mut again), first_keys);
        assert_ne!(first_keys[0], first_keys[1]);
        assert_eq!(again.counts().expect("counts").pending, 2);
    }

    #[test]
    fn outcomes_survive_a_reopen_and_failed_rows_wait_for_retry_failed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.db");
        {
            let mut journal = SqliteJournal::open(&path).expect("open");
            import(&mut journal, "ch_1\nch_2\n").expect("import");
            let claimed = journal.claim(10).expect("claim");
            let error = refundkit::Error::new(refundkit::ErrorKind::NotFound, "Checkout not found");
            journal
                .record(&[Settled::of_error(claimed[1].line, claimed[1].key(), &error)])
                .expect("record");
        }
        let mut journal = SqliteJournal::open(&path).expect("reopen");
        import(&mut journal, "ch_1\nch_2\n").expect("import");
        let counts = journal.counts().expect("counts");
        assert_eq!((counts.pending, counts.failed), (1, 1));
        assert_eq!(journal.claim(10).expect("claim").len(), 1);
        drop(journal);
        let mut journal = SqliteJournal::open(&path).expect("reopen");
        journal
            .import(
                RowReader::new("ch_1\nch_2\n".as_bytes()),
                &RowKeys::new(SECRET),
                true,
            )
            .expect("import");
        assert_eq!(journal.claim(10).expect("claim").len(), 2);
    }

    #[test]
    fn duplicate_rows_are_refused_by_line_and_nothing_is_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut journal = SqliteJournal::open(&dir.path().join("j.db")).expect("open");
        let Err(ImportError::Rows(errors, 0)) = import(&mut journal, "ch_1,100\nch_2\nch_1,100\n")
        else {
            panic!("duplicate accepted");
        };
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 3);
        assert!(errors[0].message.contains("line 1"), "{}", errors[0]);
        assert_eq!(journal.counts().expect("counts").total(), 0);
    }

    #[test]
    fn a_second_run_cannot_open_a_journal_in_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.db");
        let mut first = SqliteJournal::open(&path).expect("open");
        import(&mut first, "ch_1\n").expect("import");
        let second = SqliteJournal::open(&path).and_then(|mut j| {
            import(&mut j, "ch_1\n").map_err(|e| match e {
                ImportError::Journal(e) => e,
                ImportError::Rows(..) => JournalError("rows".to_owned()),
            })
        });
        assert!(second.is_err());
    }
}
