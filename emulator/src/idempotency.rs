//! The idempotency store: one record per (secret key, `Idempotency-Key`).
//!
//! A request claims its key atomically; while it runs, repeats get 409;
//! when it finishes its answer is stored and repeats get the same status
//! and body (with `Idempotent-Replayed: true`); a repeat with a different
//! method, path or JSON body gets 422. Records expire `ttl` after the claim.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;

use crate::reply::{ApiError, Reply};
use crate::sharded::ShardedMap;

/// What makes two requests "the same": method, path and the body as parsed
/// JSON (canonical bytes), or the raw body when it is not JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint(Box<[u8]>);

impl Fingerprint {
    pub(crate) fn new(method: &http::Method, path: &str, body: &crate::body::JsonBody) -> Self {
        let mut bytes = Vec::with_capacity(method.as_str().len() + path.len() + 64);
        bytes.extend_from_slice(method.as_str().as_bytes());
        bytes.push(b' ');
        bytes.extend_from_slice(path.as_bytes());
        bytes.push(b'\n');
        body.write_canonical(&mut bytes);
        Self(bytes.into_boxed_slice())
    }
}

enum Record {
    InFlight { token: u64 },
    Done { status: StatusCode, body: Bytes },
}

struct Entry {
    fingerprint: Fingerprint,
    record: Record,
    expires: Instant,
}

/// The outcome of claiming a key.
pub(crate) enum Claim<'a> {
    /// First use (or the earlier record expired): run the request, then
    /// [`InFlight::complete`].
    Run(InFlight<'a>),
    /// Answer this instead of running the request.
    Answer(Reply),
}

/// Records of every key seen in the last `ttl`.
pub(crate) struct IdempotencyStore {
    entries: ShardedMap<String, Entry>,
    ttl: Duration,
    tokens: AtomicU64,
}

impl IdempotencyStore {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            entries: ShardedMap::new(),
            ttl,
            tokens: AtomicU64::new(0),
        }
    }

    /// Claims `key` for `account`, or says how to answer instead.
    pub(crate) fn claim(&self, account: &str, key: &str, fingerprint: Fingerprint) -> Claim<'_> {
        // Keys are visible ASCII, so a newline cannot be part of either.
        let scoped = format!("{account}\n{key}");
        let now = Instant::now();
        let mut shard = self.entries.lock(scoped.as_str());
        if let Some(entry) = shard.get(scoped.as_str()) {
            let live = matches!(entry.record, Record::InFlight { .. }) || entry.expires > now;
            if live {
                if entry.fingerprint != fingerprint {
                    return Claim::Answer(mismatch().reply());
                }
                return Claim::Answer(match &entry.record {
                    Record::InFlight { .. } => in_flight().reply(),
                    Record::Done { status, body } => Reply {
                        status: *status,
                        body: body.clone(),
                        replayed: true,
                    },
                });
            }
        }
        let token = self.tokens.fetch_add(1, Ordering::Relaxed);
        shard.insert(
            scoped.clone(),
            Entry {
                fingerprint,
                record: Record::InFlight { token },
                expires: now + self.ttl,
            },
        );
        Claim::Run(InFlight {
            store: self,
            scoped,
            token,
            done: false,
        })
    }

    /// Drops records past their expiry.
    pub(crate) fn remove_expired(&self) {
        let now = Instant::now();
        self.entries.for_each_shard(|shard| {
            shard.retain(|_, e| matches!(e.record, Record::InFlight { .. }) || e.expires > now);
        });
    }

    /// Forgets every record.
    pub(crate) fn clear(&self) {
        self.entries.for_each_shard(|shard| shard.clear());
    }
}

/// A claimed key. Completing it stores the answer; dropping it unfinished
/// (the client went away mid-request) releases the key.
pub(crate) struct InFlight<'a> {
    store: &'a IdempotencyStore,
    scoped: String,
    token: u64,
    done: bool,
}

impl InFlight<'_> {
    /// Stores `reply` as the answer for every repeat of this request.
    pub(crate) fn complete(mut self, reply: &Reply) {
        self.done = true;
        let mut shard = self.store.entries.lock(self.scoped.as_str());
        if let Some(entry) = shard.get_mut(self.scoped.as_str()) {
            if matches!(entry.record, Record::InFlight { token } if token == self.token) {
                entry.record = Record::Done {
                    status: reply.status,
                    body: reply.body.clone(),
                };
            }
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut shard = self.store.entries.lock(self.scoped.as_str());
        let ours = shard
            .get(self.scoped.as_str())
            .is_some_and(|e| matches!(e.record, Record::InFlight { token } if token == self.token));
        if ours {
            shard.remove(self.scoped.as_str());
        }
    }
}

fn in_flight() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_key_in_use",
        "A request with this idempotency key is still being processed. Retry later with the same key.",
    )
}

fn mismatch() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        "This idempotency key was used for a different request (method, path or body).",
    )
}
