//! [`RelayStore`] on one SQLite file (WAL), the default journal.
//!
//! Group commit by flat combining: an operation queues itself, yields once
//! to the other tasks ready on its thread (so they queue theirs), and the
//! first caller whose operation is still queued and who finds the
//! connection free commits everything queued in one transaction (an
//! operation of several statements in a savepoint of its own), then
//! answers each. Alone, a caller runs its own operation on its own task, no
//! hand-off to another thread; under load, one commit serves many
//! requests, and the callers waiting on it do not block their threads.
//! Nobody is answered before the commit that holds their row.
//!
//! A forwarded refund's outcome is the exception ([`When::Carried`], ADR
//! 0027): the relay answers the app first, and the outcome waits for the
//! next commit (usually the next request's `forwarding` row) or commits on
//! its own after [`OUTCOME_FLUSH_AFTER`].
//!
//! Durability: WAL with `synchronous = NORMAL`. A commit is in the WAL file
//! (in the OS) before anyone is answered, so a killed or crashed relay
//! loses nothing; only an OS crash or power loss can lose the last commits
//! since the WAL was last synced (ADR 0021). Where that matters, use the
//! PostgreSQL journal, which waits for the server's WAL flush. A relay
//! killed between answering and committing an outcome leaves that row
//! `forwarding` (with its reservation kept), as a kill during the upstream
//! call does: the app's retry with the same key replays the refund.

use std::path::Path;
use std::sync::{Mutex, PoisonError, TryLockError};

use rusqlite::{params, Connection, OptionalExtension as _};
use tokio::sync::oneshot;

use super::{
    utc_day, Begun, DailyReservation, Decision, Finish, Outcome, RelayStore, StoreError,
    StoreFuture,
};

/// Schema version, in `PRAGMA user_version`. 2: no index on
/// `decisions.upstream_key` (nothing queried it; each row's random key
/// dirtied an index page of its own in every commit).
const SCHEMA_VERSION: i64 = 2;

/// How long an outcome row may wait for another write's commit to carry it
/// before it commits on its own.
const OUTCOME_FLUSH_AFTER: std::time::Duration = std::time::Duration::from_millis(5);

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

/// Hands an operation's result to its caller once the commit is known.
type Deliver = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;
/// One queued operation: runs in the group's transaction, or is told why
/// it cannot.
type Job = Box<dyn FnOnce(Result<&Connection, &StoreError>) -> Deliver + Send>;

/// The SQLite journal and counters.
pub struct SqliteStore {
    /// Held by whoever is committing a group.
    conn: Mutex<Connection>,
    /// Operations waiting for the next group.
    queued: Mutex<Vec<Job>>,
    /// Group commits so far, for the tests.
    #[cfg(test)]
    commits: std::sync::atomic::AtomicU64,
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
        // Schema 1 had an index on `upstream_key` that nothing queried.
        conn.execute_batch("DROP INDEX IF EXISTS decisions_upstream_key")
            .map_err(failed)?;
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
            queued: Mutex::new(Vec::new()),
            #[cfg(test)]
            commits: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Queues `work` for the next group commit and commits the queue unless
    /// another caller is committing (that one takes this job too).
    ///
    /// `statements`: [`Work::One`] when `work` runs one statement (atomic on
    /// its own), [`Work::Several`] when it needs a savepoint to be undone
    /// alone. `when`: [`When::Now`] commits after one yield;
    /// [`When::Carried`] waits for another write's commit to carry it, or
    /// commits on its own after [`OUTCOME_FLUSH_AFTER`].
    fn run<T: Send + 'static>(
        &self,
        statements: Work,
        when: When,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let (reply, mut answer) = oneshot::channel();
        let savepoint = statements == Work::Several;
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Ok(conn) if savepoint => in_savepoint(conn, work),
                Ok(conn) => work(conn).map_err(failed),
                Err(e) => Err(e.clone()),
            };
            Box::new(move |committed: Result<(), &StoreError>| {
                let _ = reply.send(committed.map_err(Clone::clone).and(result));
            })
        });
        self.queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(job);
        let queued = CommitOnDrop(Some(self));
        let dropped = || Err(StoreError("the journal dropped a write".to_owned()));
        Box::pin(async move {
            // Moves the guard itself into this future: naming only its
            // field would copy the field (it is `Copy`) and drop the guard
            // here, committing at once, before the yield (ADR 0027).
            let mut queued = queued;
            let settled = if when == When::Carried {
                // The next request's commit usually carries it (ADR 0027).
                tokio::select! {
                    biased;
                    carried = &mut answer => Some(carried.unwrap_or_else(|_| dropped())),
                    () = tokio::time::sleep(OUTCOME_FLUSH_AFTER) => None,
                }
            } else {
                // Lets the other requests ready on this thread queue their
                // writes first, so that one commit serves them all (ADR 0024).
                tokio::task::yield_now().await;
                // Another caller's commit may have carried this job already:
                // then committing again would only commit the jobs queued
                // since, one small group after another (ADR 0027).
                match answer.try_recv() {
                    Ok(done) => Some(done),
                    Err(oneshot::error::TryRecvError::Closed) => Some(dropped()),
                    Err(oneshot::error::TryRecvError::Empty) => None,
                }
            };
            if let Some(result) = settled {
                queued.0.take();
                return result;
            }
            drop(queued); // commits the queue
            answer.await.unwrap_or_else(|_| dropped())
        })
    }

    /// Commits queued jobs, group after group, while this caller holds the
    /// connection; returns at once if another caller holds it.
    fn commit_queued(&self) {
        loop {
            let conn = match self.conn.try_lock() {
                Ok(conn) => conn,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            };
            loop {
                let group = std::mem::take(
                    &mut *self.queued.lock().unwrap_or_else(PoisonError::into_inner),
                );
                if group.is_empty() {
                    break;
                }
                #[cfg(test)]
                self.commits
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                commit_group(&conn, group);
            }
            drop(conn);
            // A job queued after the last look but before the unlock found
            // the connection held: look again so it is not left waiting.
            if self
                .queued
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
            {
                return;
            }
        }
    }
}

/// How many statements a job runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    /// One statement: SQLite undoes a failed statement alone.
    One,
    /// Several: a savepoint undoes them together.
    Several,
}

/// When a job wants its commit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum When {
    /// After one yield.
    Now,
    /// With another job's commit, or after [`OUTCOME_FLUSH_AFTER`].
    Carried,
}

/// Commits the queue when dropped unless taken: a write whose caller
/// stopped waiting (an app that hung up) is still committed at once, as
/// if it had been committed when it was queued.
struct CommitOnDrop<'a>(Option<&'a SqliteStore>);

impl Drop for CommitOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(store) = self.0.take() {
            store.commit_queued();
        }
    }
}

/// Runs `group` in one immediate transaction and answers each job with its
/// own result, or with the commit's failure.
fn commit_group(conn: &Connection, group: Vec<Job>) {
    let mut broken = execute_cached(conn, "BEGIN IMMEDIATE").err().map(failed);
    let mut delivers = Vec::with_capacity(group.len());
    for job in group {
        // An I/O error can end the transaction; later jobs must not run
        // outside it, each in a commit of its own.
        if broken.is_none() && conn.is_autocommit() {
            broken = Some(StoreError(
                "the journal's transaction was rolled back".to_owned(),
            ));
        }
        delivers.push(job(broken.as_ref().map_or(Ok(conn), Err)));
    }
    let committed = match broken {
        Some(e) => Err(e),
        None => execute_cached(conn, "COMMIT").map(drop).map_err(failed),
    };
    if committed.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for deliver in delivers {
        deliver(committed.as_ref().map(|_| ()));
    }
}

fn execute_cached(conn: &Connection, sql: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute([])
}

/// Runs `work` in a savepoint: its writes are kept, or undone alone.
fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> Result<T, StoreError> {
    execute_cached(conn, "SAVEPOINT job").map_err(failed)?;
    match work(conn) {
        Ok(value) => {
            execute_cached(conn, "RELEASE job").map_err(failed)?;
            Ok(value)
        }
        Err(e) => {
            let _ = execute_cached(conn, "ROLLBACK TO job");
            let _ = execute_cached(conn, "RELEASE job");
            Err(failed(e))
        }
    }
}

fn insert(conn: &Connection, d: &Decision) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO decisions (subject, role, checkout_id, amount, app_key, upstream_key,
             outcome, reason, http_status, request_id, refund_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
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
    ])?;
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
        .prepare_cached("SELECT cents FROM reservations WHERE upstream_key = ?1")?
        .query_row([upstream_key], |row| row.get(0))
        .optional()?;
    if held.is_some() {
        return Ok(Ok(false));
    }
    conn.prepare_cached(
        "INSERT INTO daily_usage (subject, day, cents) VALUES (?1, ?2, 0)
         ON CONFLICT (subject, day) DO NOTHING",
    )?
    .execute(params![r.subject, r.day])?;
    let counted = conn
        .prepare_cached(
            "UPDATE daily_usage SET cents = cents + ?3
             WHERE subject = ?1 AND day = ?2 AND cents + ?3 <= ?4",
        )?
        .execute(params![r.subject, r.day, r.cents, r.limit])?;
    if counted == 0 {
        let used: i64 = conn
            .prepare_cached("SELECT cents FROM daily_usage WHERE subject = ?1 AND day = ?2")?
            .query_row(params![r.subject, r.day], |row| row.get(0))?;
        return Ok(Err(used));
    }
    conn.prepare_cached(
        "INSERT INTO reservations (upstream_key, subject, day, cents) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![upstream_key, r.subject, r.day, r.cents])?;
    Ok(Ok(true))
}

fn release(conn: &Connection, upstream_key: &str) -> rusqlite::Result<()> {
    let held: Option<(String, i64, i64)> = conn
        .prepare_cached(
            "DELETE FROM reservations WHERE upstream_key = ?1 RETURNING subject, day, cents",
        )?
        .query_row([upstream_key], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    if let Some((subject, day, cents)) = held {
        conn.prepare_cached(
            "UPDATE daily_usage SET cents = MAX(cents - ?3, 0) WHERE subject = ?1 AND day = ?2",
        )?
        .execute(params![subject, day, cents])?;
    }
    Ok(())
}

impl RelayStore for SqliteStore {
    fn record(&self, decision: Decision) -> StoreFuture<'_, ()> {
        self.run(Work::One, When::Now, move |conn| {
            insert(conn, &decision).map(drop)
        })
    }

    fn begin_forward(
        &self,
        decision: Decision,
        reservation: Option<DailyReservation>,
    ) -> StoreFuture<'_, Begun> {
        let statements = if reservation.is_some() {
            Work::Several
        } else {
            Work::One
        };
        self.run(statements, When::Now, move |conn| {
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
        let statements = if finish.release.is_some() {
            Work::Several
        } else {
            Work::One
        };
        self.run(statements, When::Carried, move |conn| {
            if let Some(key) = &finish.release {
                release(conn, key)?;
            }
            conn.prepare_cached(
                "UPDATE decisions SET outcome = ?2, reason = ?3, http_status = ?4,
                     request_id = ?5, refund_id = ?6,
                     finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE id = ?1",
            )?
            .execute(params![
                finish.journal_id,
                finish.outcome.as_str(),
                finish.reason,
                finish.http_status,
                finish.request_id,
                finish.refund_id,
            ])?;
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

    /// Begins forwarding `key` and returns its journal id; a refusal fails
    /// the test.
    async fn begun(store: &SqliteStore, key: &str, limit: Option<DailyReservation>) -> i64 {
        match store
            .begin_forward(forwarding(key), limit)
            .await
            .expect("ok")
        {
            Begun::Forwarding { journal_id, .. } => journal_id,
            other => panic!("{key} was not forwarded: {other:?}"),
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
        let journal_id = begun(&store, "k1", day(900)).await;
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

    #[tokio::test]
    async fn a_write_whose_caller_stops_waiting_is_still_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.db");
        let store = SqliteStore::open(&path).expect("open");
        // The app hung up: its request's future is dropped unpolled.
        drop(store.record(Decision::new(Outcome::InvalidToken)));
        let rows: i64 = Connection::open(&path)
            .expect("reopen")
            .query_row("SELECT count(*) FROM decisions", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 1);
    }

    fn succeeded(journal_id: i64) -> Finish {
        Finish {
            journal_id,
            outcome: Outcome::Succeeded,
            reason: None,
            http_status: Some(202),
            request_id: None,
            refund_id: None,
            release: None,
        }
    }

    fn commits(store: &SqliteStore) -> u64 {
        store.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn writes_queued_on_one_thread_share_one_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = std::sync::Arc::new(SqliteStore::open(&dir.path().join("j.db")).expect("open"));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .begin_forward(forwarding(&format!("k{i}")), None)
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("join").expect("begun");
        }
        assert_eq!(
            commits(&store),
            1,
            "eight writes ready together, one commit"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_outcome_rides_the_next_commit_or_commits_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.db");
        let store = std::sync::Arc::new(SqliteStore::open(&path).expect("open"));
        let journal_id = begun(&store, "k1", None).await;
        let finishing = {
            let store = store.clone();
            tokio::spawn(async move { store.finish_forward(succeeded(journal_id)).await })
        };
        tokio::task::yield_now().await;
        store
            .begin_forward(forwarding("k2"), None)
            .await
            .expect("ok");
        finishing.await.expect("join").expect("finished");
        assert_eq!(
            commits(&store),
            2,
            "the outcome rode the second row's commit"
        );

        // Alone, it commits on its own.
        let journal_id = begun(&store, "k3", None).await;
        store
            .finish_forward(succeeded(journal_id))
            .await
            .expect("ok");
        let outcomes: Vec<String> = Connection::open(&path)
            .expect("reopen")
            .prepare("SELECT outcome FROM decisions ORDER BY id")
            .expect("sql")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(outcomes, ["succeeded", "forwarding", "succeeded"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_grouped_in_commits_keep_the_limit_and_every_row() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.db");
        let store = std::sync::Arc::new(SqliteStore::open(&path).expect("open"));
        // 200 reservations of 10 cents against 1000: exactly 100 fit.
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let key = format!("k{i}");
                    let begun = store.begin_forward(forwarding(&key), day(10)).await;
                    if let Ok(Begun::Forwarding { journal_id, .. }) = &begun {
                        store
                            .finish_forward(Finish {
                                journal_id: *journal_id,
                                outcome: Outcome::Succeeded,
                                reason: None,
                                http_status: Some(202),
                                request_id: None,
                                refund_id: Some(format!("rfd_{i}")),
                                release: None,
                            })
                            .await
                            .expect("finish");
                    }
                    begun.expect("begin")
                })
            })
            .collect();
        let mut forwarded = 0;
        for task in tasks {
            if matches!(task.await.expect("join"), Begun::Forwarding { .. }) {
                forwarded += 1;
            }
        }
        assert_eq!(forwarded, 100);
        let conn = Connection::open(&path).expect("reopen");
        let used: i64 = conn
            .query_row("SELECT cents FROM daily_usage", [], |r| r.get(0))
            .expect("usage");
        assert_eq!(used, 1000);
        let succeeded: i64 = conn
            .query_row(
                "SELECT count(*) FROM decisions WHERE outcome = 'succeeded'",
                [],
                |r| r.get(0),
            )
            .expect("rows");
        assert_eq!(succeeded, 100, "every answered write is committed");
    }
}
