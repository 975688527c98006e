//! Where the relay keeps what must outlive a request: the journal of every
//! decision and the daily-limit counters. Behind [`RelayStore`]: one
//! relay journals to a SQLite file ([`SqliteStore`]); several relays behind
//! a load balancer share a PostgreSQL database ([`PgStore`]) and so count
//! each subject's day together.

mod postgres;
mod sqlite;

use std::future::Future;
use std::pin::Pin;
use std::time::{SystemTime, UNIX_EPOCH};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// What the store's operations return.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A storage failure. The relay refuses to forward when it cannot journal.
#[derive(Debug, Clone, thiserror::Error)]
#[error("relay storage failed: {0}")]
pub struct StoreError(pub String);

/// What the relay decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 401: the token was refused.
    InvalidToken,
    /// 400: the request was malformed; nothing was sent.
    InvalidRequest,
    /// 403: a role policy or the daily limit refused it.
    Forbidden,
    /// 429: the subject's rate limit.
    RateLimited,
    /// Sent upstream; no answer recorded yet (a crash leaves this).
    Forwarding,
    /// The service accepted the refund.
    Succeeded,
    /// The service refused it, or it certainly was not made.
    Failed,
    /// It may have been made: the app should retry with the same key.
    Unknown,
    /// The relay itself failed before sending.
    RelayError,
}

impl Outcome {
    /// The name stored in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidToken => "invalid_token",
            Self::InvalidRequest => "invalid_request",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::Forwarding => "forwarding",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
            Self::RelayError => "relay_error",
        }
    }
}

/// One journal row. Never holds the secret key or a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The token's `sub`, once verified.
    pub subject: Option<String>,
    /// The role the caller acted in.
    pub role: Option<String>,
    /// The checkout, once validated.
    pub checkout_id: Option<String>,
    /// Cents asked for; `None` for a full refund (or not parsed).
    pub amount: Option<i64>,
    /// The app's `Idempotency-Key` (or the one the relay made).
    pub app_key: Option<String>,
    /// The key sent upstream, derived from (subject, app key).
    pub upstream_key: Option<String>,
    /// What was decided.
    pub outcome: Outcome,
    /// Why, for refusals and failures.
    pub reason: Option<String>,
    /// The HTTP status answered to the app.
    pub http_status: Option<u16>,
    /// The service's `x-request-id`.
    pub request_id: Option<String>,
    /// The refund made (`rfd_…`).
    pub refund_id: Option<String>,
}

impl Decision {
    /// An empty decision with `outcome`, to fill in.
    pub fn new(outcome: Outcome) -> Self {
        Self {
            subject: None,
            role: None,
            checkout_id: None,
            amount: None,
            app_key: None,
            upstream_key: None,
            outcome,
            reason: None,
            http_status: None,
            request_id: None,
            refund_id: None,
        }
    }
}

/// `cents` to count against `subject`'s `day`, at most `limit` in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyReservation {
    /// Whose day.
    pub subject: String,
    /// The UTC day ([`utc_day`]).
    pub day: i64,
    /// This refund's cents.
    pub cents: i64,
    /// The role's `daily_limit`.
    pub limit: i64,
}

/// The answer of [`RelayStore::begin_forward`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// Journaled as `forwarding`: send it.
    Forwarding {
        /// The journal row to finish.
        journal_id: i64,
        /// Whether this request made the reservation (a retry of the same
        /// upstream key finds it made and counts nothing twice).
        reserved: bool,
    },
    /// The day's limit would be passed; nothing was counted or journaled.
    OverDailyLimit {
        /// Cents already counted today.
        used: i64,
    },
}

/// How a forwarded request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// The row [`Begun::Forwarding`] gave.
    pub journal_id: i64,
    /// Succeeded, failed or unknown.
    pub outcome: Outcome,
    /// Why, when it failed.
    pub reason: Option<String>,
    /// The status answered to the app.
    pub http_status: Option<u16>,
    /// The service's `x-request-id`.
    pub request_id: Option<String>,
    /// The refund made.
    pub refund_id: Option<String>,
    /// Give back this upstream key's reservation: set only when this
    /// request made it and the refund certainly was not made.
    pub release: Option<String>,
}

/// The relay's storage. Every method is atomic on its own.
pub trait RelayStore: Send + Sync + 'static {
    /// Journals a decision that forwards nothing (a refusal).
    fn record(&self, decision: Decision) -> StoreFuture<'_, ()>;

    /// Before forwarding: counts `reservation` against the day unless its
    /// upstream key already holds one, and journals `decision` as
    /// `forwarding`, together.
    fn begin_forward(
        &self,
        decision: Decision,
        reservation: Option<DailyReservation>,
    ) -> StoreFuture<'_, Begun>;

    /// After forwarding: records the outcome and gives back the
    /// reservation when [`Finish::release`] says so, together. The relay
    /// calls it after answering the app; a store may commit it with a later
    /// write (the SQLite journal does, within a few milliseconds).
    fn finish_forward(&self, finish: Finish) -> StoreFuture<'_, ()>;
}

/// The UTC day of `now`: whole days since 1970-01-01 (SQL shows it as a
/// date with `date(day * 86400, 'unixepoch')`).
pub fn utc_day(now: SystemTime) -> i64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| {
        i64::try_from(d.as_secs() / 86_400).unwrap_or(i64::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_days_turn_at_midnight_utc() {
        assert_eq!(utc_day(UNIX_EPOCH), 0);
        // 2024-02-29T23:59:59Z is day 19782; one second later is the next.
        let last_second = UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        assert_eq!(utc_day(last_second), 19_782);
        assert_eq!(utc_day(last_second + Duration::from_secs(1)), 19_783);
    }
}
