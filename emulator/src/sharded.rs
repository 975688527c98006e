//! A map split into independently locked shards, so concurrent requests
//! for different keys rarely wait on each other. Locks are never held
//! across an `.await`.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, MutexGuard};

/// Number of shards: a power of two well above the worker thread count.
const SHARDS: usize = 64;

/// `HashMap<K, V>` behind [`SHARDS`] mutexes.
pub(crate) struct ShardedMap<K, V> {
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<K, V>>]>,
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Locks the shard holding `key`.
    pub(crate) fn lock<Q: Hash + ?Sized>(&self, key: &Q) -> MutexGuard<'_, HashMap<K, V>> {
        let index = (self.hasher.hash_one(key) as usize) & (SHARDS - 1);
        lock(&self.shards[index])
    }

    /// Locks each shard in turn (never two at once).
    pub(crate) fn for_each_shard(&self, mut f: impl FnMut(&mut HashMap<K, V>)) {
        for shard in self.shards.iter() {
            f(&mut lock(shard));
        }
    }
}

/// Locks a mutex, recovering from poisoning: every critical section leaves
/// the data consistent before anything can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
