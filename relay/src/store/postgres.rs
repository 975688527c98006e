//! [`RelayStore`] on PostgreSQL (`--journal postgres://…`): several relay
//! instances behind a load balancer share one audit trail and one set of
//! daily counters (ADR 0021).
//!
//! - The schema is the relay's own (`relay/migrations/postgres/`), created
//!   and migrated by versioned SQL files under an advisory lock, with the
//!   plumbing the CLI's batch journal uses ([`refundkit_pg`]).
//! - A daily reservation is one conditional upsert of the subject's day row
//!   (`cents + n <= limit`): concurrent relays serialise on that row's lock
//!   and the limit holds across instances and restarts. The reservation row
//!   keyed by the upstream key makes a retry count nothing twice.
//! - Every commit waits for the server's WAL flush (`synchronous_commit`
//!   stays on): a decision the app was answered about is on disk.
//! - Each row names the instance that decided (`relay`: host:pid:tag).

use std::hash::{BuildHasher as _, Hasher as _};

use deadpool_postgres::{GenericClient, Pool, PoolError};
use refundkit_pg::{explain, explain_pool, Schema};

use super::{
    utc_day, Begun, DailyReservation, Decision, Finish, Outcome, RelayStore, StoreError,
    StoreFuture,
};

/// The relay's schema ("refundkr" in ASCII as the migration lock).
const SCHEMA: Schema = Schema {
    table: "refundkit_relay_migrations",
    lock: 0x7265_6675_6e64_6b72,
    migrations: &[(
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    )],
    program: "refundkit relay",
};

/// Connections per relay instance.
pub const POOL_SIZE: usize = 16;

const INSERT_DECISION: &str = "
    INSERT INTO refundkit_relay_decisions (relay, subject, role, checkout_id, amount, app_key,
        upstream_key, outcome, reason, http_status, request_id, refund_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
    RETURNING id";

const HOLD_KEY: &str = "
    INSERT INTO refundkit_relay_reservations (upstream_key, subject, day, cents)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT (upstream_key) DO NOTHING";

/// Counts `$3` cents against (`$1`, `$2`) only if the day stays within `$4`;
/// returns a row only when it counted.
const COUNT_CENTS: &str = "
    INSERT INTO refundkit_relay_daily_usage AS u (subject, day, cents)
    SELECT $1::text, $2::bigint, $3::bigint WHERE $3::bigint <= $4::bigint
    ON CONFLICT (subject, day) DO UPDATE SET cents = u.cents + EXCLUDED.cents
        WHERE u.cents + EXCLUDED.cents <= $4::bigint
    RETURNING cents";

const USED: &str = "SELECT cents FROM refundkit_relay_daily_usage WHERE subject = $1 AND day = $2";

const RELEASE_KEY: &str = "
    DELETE FROM refundkit_relay_reservations WHERE upstream_key = $1
    RETURNING subject, day, cents";

const UNCOUNT_CENTS: &str = "
    UPDATE refundkit_relay_daily_usage SET cents = GREATEST(cents - $3, 0)
    WHERE subject = $1 AND day = $2";

const FINISH: &str = "
    UPDATE refundkit_relay_decisions SET outcome = $2, reason = $3, http_status = $4,
        request_id = $5, refund_id = $6, finished_at = now()
    WHERE id = $1";

/// The PostgreSQL journal and counters.
pub struct PgStore {
    pool: Pool,
    /// `postgres://user@host:port/db`, never the password.
    target: String,
    /// This instance's name in the `relay` column.
    relay: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .field("relay", &self.relay)
            .finish_non_exhaustive()
    }
}

/// A database failure, worded without the password.
enum Failure {
    Pool(PoolError),
    Db(tokio_postgres::Error),
}

impl From<PoolError> for Failure {
    fn from(e: PoolError) -> Self {
        Self::Pool(e)
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

impl Failure {
    fn is_transient(&self) -> bool {
        match self {
            Self::Pool(e) => refundkit_pg::is_transient_pool(e),
            Self::Db(e) => refundkit_pg::is_transient(e),
        }
    }

    fn into_store_error(self, target: &str) -> StoreError {
        let why = match &self {
            Self::Pool(e) => explain_pool(e),
            Self::Db(e) => explain(e),
        };
        StoreError(format!("PostgreSQL journal {target}: {why}"))
    }
}

/// This instance's name: host, pid and a random tag.
fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let tag = hasher.finish() & 0xffff;
    format!("{host}:{}:{tag:04x}", std::process::id())
}

impl PgStore {
    /// Connects to `url` (`postgres://USER:PASSWORD@HOST:PORT/DB`), creates
    /// or upgrades the schema, and prunes reservations of past days. A bad
    /// URL, an unreachable server or a refused password fail here, before
    /// anything is served; no error repeats the password.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let (config, target) = refundkit_pg::parse_url(url).map_err(|e| StoreError(e.0))?;
        let pool = refundkit_pg::connect(config, &target, POOL_SIZE)
            .await
            .map_err(|e| StoreError(e.0))?;
        refundkit_pg::migrate(&pool, &target, &SCHEMA)
            .await
            .map_err(|e| StoreError(e.0))?;
        let store = Self {
            pool,
            target,
            relay: instance_name(),
        };
        // Reservations only matter on their own day; keep a margin.
        let cutoff = utc_day(std::time::SystemTime::now()) - 2;
        store
            .with_retry(|| async {
                let client = store.pool.get().await?;
                client
                    .execute(
                        "DELETE FROM refundkit_relay_reservations WHERE day < $1",
                        &[&cutoff],
                    )
                    .await?;
                Ok(())
            })
            .await?;
        Ok(store)
    }

    /// The database, without its password.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// This instance's name in the journal's `relay` column.
    pub fn instance(&self) -> &str {
        &self.relay
    }

    /// Runs `op` once more on a fresh connection if the first connection
    /// turned out lost (a database restart leaves dead pooled connections).
    async fn with_retry<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        match op().await {
            Ok(value) => Ok(value),
            Err(e) if e.is_transient() => op().await.map_err(|e| e.into_store_error(&self.target)),
            Err(e) => Err(e.into_store_error(&self.target)),
        }
    }
}

async fn insert(
    client: &impl GenericClient,
    relay: &str,
    d: &Decision,
) -> Result<i64, tokio_postgres::Error> {
    let statement = client.prepare_cached(INSERT_DECISION).await?;
    let http_status = d.http_status.map(i32::from);
    let row = client
        .query_one(
            &statement,
            &[
                &relay,
                &d.subject,
                &d.role,
                &d.checkout_id,
                &d.amount,
                &d.app_key,
                &d.upstream_key,
                &d.outcome.as_str(),
                &d.reason,
                &http_status,
                &d.request_id,
                &d.refund_id,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// Counts `r` under `upstream_key` unless that key holds it already:
/// `Ok(made)`, or `Err(used)` when the day's limit would be passed.
async fn reserve(
    client: &impl GenericClient,
    upstream_key: &str,
    r: &DailyReservation,
) -> Result<Result<bool, i64>, tokio_postgres::Error> {
    let hold = client.prepare_cached(HOLD_KEY).await?;
    let held = client
        .execute(&hold, &[&upstream_key, &r.subject, &r.day, &r.cents])
        .await?;
    if held == 0 {
        return Ok(Ok(false));
    }
    let count = client.prepare_cached(COUNT_CENTS).await?;
    let counted = client
        .query_opt(&count, &[&r.subject, &r.day, &r.cents, &r.limit])
        .await?;
    if counted.is_some() {
        return Ok(Ok(true));
    }
    let used = client.prepare_cached(USED).await?;
    let used: i64 = client
        .query_opt(&used, &[&r.subject, &r.day])
        .await?
        .map_or(0, |row| row.get(0));
    Ok(Err(used))
}

impl RelayStore for PgStore {
    fn record(&self, decision: Decision) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.with_retry(|| async {
                let client = self.pool.get().await?;
                insert(&client, &self.relay, &decision).await?;
                Ok(())
            })
            .await
        })
    }

    fn begin_forward(
        &self,
        decision: Decision,
        reservation: Option<DailyReservation>,
    ) -> StoreFuture<'_, Begun> {
        let decision = Decision {
            outcome: Outcome::Forwarding,
            ..decision
        };
        Box::pin(async move {
            self.with_retry(|| async {
                let mut client = self.pool.get().await?;
                let (Some(r), Some(key)) = (&reservation, &decision.upstream_key) else {
                    let journal_id = insert(&client, &self.relay, &decision).await?;
                    return Ok(Begun::Forwarding {
                        journal_id,
                        reserved: false,
                    });
                };
                let tx = client.transaction().await?;
                let reserved = match reserve(&tx, key, r).await? {
                    Ok(made) => made,
                    Err(used) => {
                        tx.rollback().await?;
                        return Ok(Begun::OverDailyLimit { used });
                    }
                };
                let journal_id = insert(&tx, &self.relay, &decision).await?;
                tx.commit().await?;
                Ok(Begun::Forwarding {
                    journal_id,
                    reserved,
                })
            })
            .await
        })
    }

    fn finish_forward(&self, finish: Finish) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.with_retry(|| async {
                let mut client = self.pool.get().await?;
                let tx = client.transaction().await?;
                if let Some(key) = &finish.release {
                    let release = tx.prepare_cached(RELEASE_KEY).await?;
                    if let Some(row) = tx.query_opt(&release, &[key]).await? {
                        let (subject, day, cents): (String, i64, i64) =
                            (row.get(0), row.get(1), row.get(2));
                        let uncount = tx.prepare_cached(UNCOUNT_CENTS).await?;
                        tx.execute(&uncount, &[&subject, &day, &cents]).await?;
                    }
                }
                let update = tx.prepare_cached(FINISH).await?;
                let http_status = finish.http_status.map(i32::from);
                tx.execute(
                    &update,
                    &[
                        &finish.journal_id,
                        &finish.outcome.as_str(),
                        &finish.reason,
                        &http_status,
                        &finish.request_id,
                        &finish.refund_id,
                    ],
                )
                .await?;
                tx.commit().await?;
                Ok(())
            })
            .await
        })
    }
}
