//! [`RelayStore`] on one SQLite file (WAL), the default journal.
//!
//! One writer thread owns the connection and commits whatever requests are
//! waiting together, in one transaction with a savepoint each (group
//! commit): under load many decisions share a commit, and every caller hears
//! back only once its work is committed.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::{params, Connection, OptionalExtension as _};
use tokio::sync::oneshot;

use super::{
    utc_day, Begun, DailyReservation, Decision, Finish, Outcome, RelayStore, StoreError,
    StoreFuture,
};

/// Schema version, in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;
/// Most jobs committed together.
const MAX_BATCH: usize = 256;

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

/// Tells a job's caller how its work ended, once the batch is committed
/// (`Err` holds why the commit failed).
type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;
/// One caller's work: run it on the connection (or, given `None`, report
/// that it could not be run) and return how to deliver its result.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Deliver + Send>;

/// The SQLite journal and counters. Cheap to clone; the writer thread ends
/// when the last clone is dropped.
#[derive(Clone)]
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
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
    /// Opens (or creates) the journal at `path` and starts its writer.
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
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("relay-journal".to_owned())
            .spawn(move || write_batches(&conn, &queue))
            .map_err(|e| StoreError(format!("cannot start the journal writer: {e}")))?;
        Ok(Self { jobs })
    }

    /// Queues `work` for the writer; resolves once it is committed.
    fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let (done, result) = oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |conn| {
            // `None`: the batch's transaction never began; the commit
            // result says why.
            let outcome = conn.map(|conn| in_savepoint(conn, work));
            Box::new(move |commit: Result<(), String>| {
                let result = match (outcome, commit) {
                    (_, Err(why)) => Err(StoreError(why)),
                    (Some(Ok(value)), Ok(())) => Ok(value),
                    (Some(Err(e)), Ok(())) => Err(failed(e)),
                    (None, Ok(())) => Err(StoreError("the journal did not run".to_owned())),
                };
                let _ = done.send(result);
            })
        });
        let queued = self.jobs.send(job);
        Box::pin(async move {
            queued.map_err(|_| StoreError("the journal writer has stopped".to_owned()))?;
            result
                .await
                .map_err(|_| StoreError("the journal writer has stopped".to_owned()))?
        })
    }
}

/// The writer: waits for a job, takes every other waiting job too, runs
/// them in one transaction and tells each caller after the commit.
fn write_batches(conn: &Connection, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let why = format!("cannot begin a journal transaction: {e}");
            for job in batch {
                job(None)(Err(why.clone()));
            }
            continue;
        }
        let delivers: Vec<Deliver> = batch.into_iter().map(|job| job(Some(conn))).collect();
        let commit = conn.execute_batch("COMMIT").map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            format!("cannot commit the journal: {e}")
        });
        for deliver in delivers {
            deliver(commit.clone());
        }
    }
}

/// Runs `work` so that its failure undoes only its own changes.
fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.execute_batch("SAVEPOINT job")?;
    match work(conn) {
        Ok(value) => {
            conn.execute_batch("RELEASE job")?;
            Ok(value)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            Err(e)
        }
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
