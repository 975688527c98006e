//! [`RelayStore`] on one SQLite file (WAL), the default journal.
//!
//! Each operation is one short transaction (tens of microseconds, no fsync
//! per commit in WAL with `synchronous = NORMAL`) run on the calling task
//! under a mutex. Handing it to another thread costs more than it does: on
//! a loaded 2-core machine each hand-off waits for a CPU, and a forwarded
//! refund would make four of them (BENCHMARKS.md, the relay section).

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use rusqlite::{params, Connection, OptionalExtension as _, TransactionBehavior};

use super::{
    utc_day, Begun, DailyReservation, Decision, Finish, Outcome, RelayStore, StoreError,
    StoreFuture,
};

/// Schema version, in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS decisions (
    id           INTEGER PRIMARY KEY,
    at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at  TEXT,
    subject      TEXT,
    role         TEXT,
    checkout_id  TEXT,
    amount       INTEGER,
    app_key      TEXT,
    upstream_key TEXT,
    outcome      TEXT NOT NULL,
    reason       TEXT,
    http_status  INTEGER,
    request_id   TEXT,
    refund_id    TEXT
);
CREATE INDEX IF NOT EXISTS decisions_upstream_key ON decisions (upstream_key);
CREATE TABLE IF NOT EXISTS daily_usage (
    subject TEXT NOT NULL,
    day     INTEGER NOT NULL,
    cents   INTEGER NOT NULL CHECK (cents >= 0),
    PRIMARY KEY (subject, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reservations (
    upstream_key TEXT PRIMARY KEY,
    subject      TEXT NOT NULL,
    day          INTEGER NOT NULL,
    cents        INTEGER NOT NULL
) WITHOUT ROWID;
";

/// The SQLite journal and counters.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl SqliteStore {
    /// Opens (or creates) the journal at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(failed)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(failed)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(failed)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(failed)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError(format!(
                "{} was written by a newer relay (schema {version})",
                path.display()
            )));
        }
        conn.execute_batch(SCHEMA).map_err(failed)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(failed)?;
        // Reservations only matter on their own day; keep a margin.
        conn.execute(
            "DELETE FROM reservations WHERE day < ?1",
            [utc_day(std::time::SystemTime::now()) - 2],
        )
        .map_err(failed)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `work` in one immediate transaction.
    fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let result = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .and_then(|tx| {
                let value = work(&tx)?;
                tx.commit()?;
                Ok(value)
            })
            .map_err(failed);
        Box::pin(std::future::ready(result))
    }
}

fn insert(conn: &Connection, d: &Decision) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO decisions (subject, role, checkout_id, amount, app_key, upstream_key,
             outcome, reason, http_status, request_id, refund_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            d.subject,
            d.role,
            d.checkout_id,
            d.amount,
            d.app_key,
            d.upstream_key,
            d.outcome.as_str(),
            d.reason,
            d.http_status,
            d.request_id,
            d.refund_id,
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Counts `r` unless `upstream_key` holds a reservation already.
/// `Ok(None)`: over the limit, with the cents used in `Err`.
fn reserve(
    conn: &Connection,
    upstream_key: &str,
    r: &DailyReservation,
) -> rusqlite::Result<Result<bool, i64>> {
    let held: Option<i64> = conn
        .query_row(
            "SELECT cents FROM reservations WHERE upstream_key = ?1",
            [upstream_key],
            |row| row.get(0),
        )
        .optional()?;
    if held.is_some() {
        return Ok(Ok(false));
    }
    conn.execute(
        "INSERT INTO daily_usage (subject, day, cents) VALUES (?1, ?2, 0)
         ON CONFLICT (subject, day) DO NOTHING",
        params![r.subject, r.day],
    )?;
    let counted = conn.execute(
        "UPDATE daily_usage SET cents = cents + ?3
         WHERE subject = ?1 AND day = ?2 AND cents + ?3 <= ?4",
        params![r.subject, r.day, r.cents, r.limit],
    )?;
    if counted == 0 {
        let used: i64 = conn.query_row(
            "SELECT cents FROM daily_usage WHERE subject = ?1 AND day = ?2",
            params![r.subject, r.day],
            |row| row.get(0),
        )?;
        return Ok(Err(used));
    }
    conn.execute(
        "INSERT INTO reservations (upstream_key, subject, day, cents) VALUES (?1, ?2, ?3, ?4)",
        params![upstream_key, r.subject, r.day, r.cents],
    )?;
    Ok(Ok(true))
}

fn release(conn: &Connection, upstream_key: &str) -> rusqlite::Result<()> {
    let held: Option<(String, i64, i64)> = conn
        .query_row(
            "DELETE FROM reservations WHERE upstream_key = ?1 RETURNING subject, day, cents",
            [upstream_key],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    if let Some((subject, day, cents)) = held {
        conn.execute(
            "UPDATE daily_usage SET cents = MAX(cents - ?3, 0) WHERE subject = ?1 AND day = ?2",
            params![subject, day, cents],
        )?;
    }
    Ok(())
}

impl RelayStore for SqliteStore {
    fn record(&self, decision: Decision) -> StoreFuture<'_, ()> {
        self.run(move |conn| insert(conn, &decision).map(drop))
    }

    fn begin_forward(
        &self,
        decision: Decision,
        reservation: Option<DailyReservation>,
    ) -> StoreFuture<'_, Begun> {
        self.run(move |conn| {
            let mut reserved = false;
            if let (Some(r), Some(key)) = (&reservation, &decision.upstream_key) {
                match reserve(conn, key, r)? {
                    Ok(made) => reserved = made,
                    Err(used) => return Ok(Begun::OverDailyLimit { used }),
                }
            }
            let journal_id = insert(
                conn,
                &Decision {
                    outcome: Outcome::Forwarding,
                    ..decision
                },
            )?;
            Ok(Begun::Forwarding {
                journal_id,
                reserved,
            })
        })
    }

    fn finish_forward(&self, finish: Finish) -> StoreFuture<'_, ()> {
        self.run(move |conn| {
            if let Some(key) = &finish.release {
                release(conn, key)?;
            }
            conn.execute(
                "UPDATE decisions SET outcome = ?2, reason = ?3, http_status = ?4,
                     request_id = ?5, refund_id = ?6,
                     finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE id = ?1",
                params![
                    finish.journal_id,
                    finish.outcome.as_str(),
                    finish.reason,
                    finish.http_status,
                    finish.request_id,
                    finish.refund_id,
                ],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarding(key: &str) -> Decision {
        Decision {
            subject: Some("u1".to_owned()),
            upstream_key: Some(key.to_owned()),
            ..Decision::new(Outcome::Forwarding)
        }
    }

    fn day(cents: i64) -> Option<DailyReservation> {
        Some(DailyReservation {
            subject: "u1".to_owned(),
            day: 20_423,
            cents,
            limit: 1000,
        })
    }

    #[tokio::test]
    async fn reservations_count_once_per_key_and_stop_at_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("j.db")).expect("open");
        let first = store
            .begin_forward(forwarding("k1"), day(600))
            .await
            .expect("ok");
        assert!(matches!(first, Begun::Forwarding { reserved: true, .. }));
        let retry = store
            .begin_forward(forwarding("k1"), day(600))
            .await
            .expect("ok");
        assert!(
            matches!(
                retry,
                Begun::Forwarding {
                    reserved: false,
                    ..
                }
            ),
            "same key counts once"
        );
        let over = store
            .begin_forward(forwarding("k2"), day(500))
            .await
            .expect("ok");
        assert_eq!(over, Begun::OverDailyLimit { used: 600 });
    }

    #[tokio::test]
    async fn a_released_reservation_frees_its_cents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("j.db")).expect("open");
        let Begun::Forwarding { journal_id, .. } = store
            .begin_forward(forwarding("k1"), day(900))
            .await
            .expect("ok")
        else {
            panic!("under the limit");
        };
        store
            .finish_forward(Finish {
                journal_id,
                outcome: Outcome::Failed,
                reason: None,
                http_status: Some(400),
                request_id: None,
                refund_id: None,
                release: Some("k1".to_owned()),
            })
            .await
            .expect("ok");
        let again = store
            .begin_forward(forwarding("k2"), day(900))
            .await
            .expect("ok");
        assert!(matches!(again, Begun::Forwarding { reserved: true, .. }));
    }
}
