//! Per-key GCRA state: the [`GcraStore`] seam and a bounded in-process store.
//!
//! # The in-process store
//!
//! [`ShardedStore`] keeps, per key, only a 64-bit keyed hash of the key and
//! the key's TAT in an `AtomicU64`. Keys are spread over 64 shards, each a
//! `HashMap` behind an `RwLock`. A check on a known key takes the shard's
//! read lock (shared, never waits on other checks) and updates the TAT with
//! a compare-and-swap loop, so checks on one key from many threads are exact
//! and lock-free with respect to each other. Only inserting a new key and
//! sweeping take the shard's write lock.
//!
//! Keys are hashed with SipHash under a random per-store key, so clients
//! cannot aim collisions; two keys sharing a hash (probability about
//! `n² / 2⁶⁵`, under 10⁻⁷ at 1.8 million keys) would share one budget.
//!
//! # Memory bound
//!
//! Each shard holds at most `capacity_per_shard` keys, chosen so that its
//! table is exactly full at that count (7/8 of a power-of-two number of
//! buckets), and never grows past it. A bucket is 16 bytes plus one control
//! byte, so the store's table memory is at most [`ShardedStore::max_bytes`].
//! `ShardedStore::new(1_000_000)` holds 1,835,008 keys in 35.7 MiB.
//!
//! # Eviction
//!
//! A key whose TAT is in the past holds no information: its next request is
//! decided exactly as a new key's would be. When a new key finds its shard
//! full, the shard is swept and every key whose TAT is more than
//! [`EVICT_GRACE`] in the past is dropped (the grace keeps a check that read
//! the clock a moment earlier from seeing a fresher state than it should).
//! A key whose TAT is in the future — any client currently limited, or that
//! spent part of its burst within the last `burst · T` — is never evicted,
//! so a flood of new keys cannot reset an active abuser's state.
//!
//! If a sweep frees nothing, new keys of that shard are decided on a shared
//! per-shard overflow state with the same policy until an entry expires:
//! together they get at most the policy's rate per shard (counted in
//! [`ShardedStore::overflowed`]). Sweeps of a shard are at least
//! [`SWEEP_SPACING`] apart and skipped while no entry can have expired, so a
//! flood cannot make every request pay for a sweep.

use super::gcra::{check_atomic, Decision, GcraPolicy};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockWriteGuard};
use std::time::Duration;

/// Where a GCRA limiter keeps its per-key TATs. An implementation applies
/// [`GcraPolicy::step`] to the key's state atomically, so that a store
/// shared by several gateways can be added without touching the callers.
pub trait GcraStore: Send + Sync {
    /// Decides a request of `key` at `now` (nanoseconds of the limiter's
    /// clock) and records it if allowed.
    fn check(&self, key: &[u8], policy: &GcraPolicy, now: u64) -> Decision;
}

/// A key whose TAT is at least this far in the past may be evicted.
pub(crate) const EVICT_GRACE: Duration = Duration::from_secs(1);

/// Minimum time between two sweeps of one shard.
pub(crate) const SWEEP_SPACING: Duration = Duration::from_millis(100);

const SHARDS: usize = 64;
/// Bytes per table bucket: the u64 key hash, the AtomicU64 TAT, one control byte.
const BUCKET_BYTES: usize = 17;

/// A `Hasher` for keys that already are keyed hashes.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _bytes: &[u8]) {
        unreachable!("only u64 key hashes are stored")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Table = HashMap<u64, AtomicU64, BuildHasherDefault<Prehashed>>;

#[repr(align(128))]
struct Shard {
    table: RwLock<Table>,
    /// Shared state of the new keys that found the shard full.
    overflow: AtomicU64,
    /// No entry can be evicted before this clock reading.
    next_sweep: AtomicU64,
}

/// A bounded, sharded in-process [`GcraStore`] (see the module docs).
pub struct ShardedStore {
    hasher: RandomState,
    shards: Box<[Shard]>,
    capacity_per_shard: usize,
    overflowed: AtomicU64,
}

impl ShardedStore {
    /// A store for at least `max_keys` keys (rounded up to fill each shard's table).
    pub fn new(max_keys: usize) -> Self {
        Self::with_shards(max_keys, SHARDS)
    }

    /// A store for at least `max_keys` keys over `shards` shards (rounded up
    /// to a power of two).
    pub fn with_shards(max_keys: usize, shards: usize) -> Self {
        let shards = shards.clamp(1, 1 << 16).next_power_of_two();
        let per_shard = max_keys.div_ceil(shards).max(1);
        // hashbrown keeps a table of 8 or more buckets at most 7/8 full.
        let buckets = (per_shard.saturating_mul(8).div_ceil(7))
            .next_power_of_two()
            .max(8);
        let capacity_per_shard = buckets / 8 * 7;
        ShardedStore {
            hasher: RandomState::new(),
            shards: (0..shards)
                .map(|_| Shard {
                    table: RwLock::new(Table::default()),
                    overflow: AtomicU64::new(0),
                    next_sweep: AtomicU64::new(0),
                })
                .collect(),
            capacity_per_shard,
            overflowed: AtomicU64::new(0),
        }
    }

    /// The most keys the store tracks at once.
    pub fn capacity(&self) -> usize {
        self.capacity_per_shard * self.shards.len()
    }

    /// Upper bound of the memory held by the tables when full, in bytes.
    pub fn max_bytes(&self) -> usize {
        let buckets = self.capacity_per_shard / 7 * 8;
        self.shards.len() * (buckets * BUCKET_BYTES + std::mem::size_of::<Shard>())
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.table.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks decided on a shard's overflow state because the shard was full
    /// of active keys.
    pub fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    fn shard(&self, hash: u64) -> &Shard {
        // The table indexes buckets by the low bits and tags by the top 7:
        // pick the shard from bits in between.
        &self.shards[(hash >> 32) as usize & (self.shards.len() - 1)]
    }

    #[cold]
    fn insert(&self, shard: &Shard, hash: u64, policy: &GcraPolicy, now: u64) -> Decision {
        let mut table = shard.table.write().unwrap_or_else(|e| e.into_inner());
        if let Some(tat) = table.get(&hash) {
            return check_atomic(tat, policy, now);
        }
        if table.len() >= self.capacity_per_shard {
            self.sweep(shard, &mut table, now);
        }
        if table.len() >= self.capacity_per_shard {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            return check_atomic(&shard.overflow, policy, now);
        }
        let (decision, next) = policy.step(0, now);
        table.insert(hash, AtomicU64::new(next.unwrap_or(0)));
        decision
    }

    /// Drops every key idle for longer than [`EVICT_GRACE`], at most once per
    /// [`SWEEP_SPACING`] and only once some entry can have become idle.
    fn sweep(&self, shard: &Shard, table: &mut RwLockWriteGuard<'_, Table>, now: u64) {
        if now < shard.next_sweep.load(Ordering::Relaxed) {
            return;
        }
        let grace = EVICT_GRACE.as_nanos() as u64;
        // Rebuilt rather than filtered in place: deleted slots in a full
        // table would make the next insert double its size.
        let mut kept = Table::with_capacity_and_hasher(self.capacity_per_shard, Default::default());
        let mut earliest_idle = u64::MAX;
        for (hash, tat) in table.drain() {
            let idle_at = tat.load(Ordering::Acquire).saturating_add(grace);
            if idle_at > now {
                earliest_idle = earliest_idle.min(idle_at);
                kept.insert(hash, tat);
            }
        }
        **table = kept;
        let spacing = SWEEP_SPACING.as_nanos() as u64;
        shard.next_sweep.store(
            earliest_idle.max(now.saturating_add(spacing)),
            Ordering::Relaxed,
        );
    }
}

impl GcraStore for ShardedStore {
    #[inline]
    fn check(&self, key: &[u8], policy: &GcraPolicy, now: u64) -> Decision {
        let hash = self.hasher.hash_one(key);
        let shard = self.shard(hash);
        {
            let table = shard.table.read().unwrap_or_else(|e| e.into_inner());
            if let Some(tat) = table.get(&hash) {
                return check_atomic(tat, policy, now);
            }
        }
        self.insert(shard, hash, policy, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn policy() -> GcraPolicy {
        GcraPolicy::new(1, Duration::from_secs(1), 2).expect("valid policy")
    }

    #[test]
    fn a_million_keys_fit_the_documented_budget() {
        let store = ShardedStore::new(1_000_000);
        assert_eq!(store.capacity(), 1_835_008);
        assert!(
            store.max_bytes() <= 36 * 1024 * 1024,
            "{}",
            store.max_bytes()
        );
    }

    #[test]
    fn keys_are_bounded_and_idle_keys_make_room() {
        let store = ShardedStore::with_shards(7, 1);
        assert_eq!(store.capacity(), 7);
        let p = policy();
        for key in 0..7u32 {
            assert!(store.check(&key.to_be_bytes(), &p, SECOND).allowed);
        }
        // Full of keys that spent part of their burst: the newcomer shares the overflow state.
        assert!(store.check(b"new", &p, SECOND).allowed);
        assert_eq!(store.len(), 7);
        assert_eq!(store.overflowed(), 1);
        // Once their TATs are past by the grace, they are evicted for newcomers.
        let later = 3 * SECOND + EVICT_GRACE.as_nanos() as u64;
        assert!(store.check(b"new", &p, later).allowed);
        assert_eq!(store.len(), 1);
        assert_eq!(store.overflowed(), 1);
    }

    #[test]
    fn a_flood_of_new_keys_cannot_evict_an_active_abuser() {
        let store = ShardedStore::with_shards(7, 1);
        let p = policy();
        let mut now = SECOND;
        assert!(store.check(b"abuser", &p, now).allowed);
        assert!(store.check(b"abuser", &p, now).allowed);
        assert!(!store.check(b"abuser", &p, now).allowed);
        let mut abuser_allowed = 0;
        for step in 0..50u32 {
            now += SECOND / 5;
            // More new keys than the shard holds: each step forces a sweep.
            for k in 0..10u32 {
                store.check(&(step * 100 + k).to_be_bytes(), &p, now);
            }
            abuser_allowed += u32::from(store.check(b"abuser", &p, now).allowed);
        }
        // 10 s at 1/s: its state kept, the abuser earns 10 more requests at most.
        assert!(
            abuser_allowed <= 10,
            "abuser allowed {abuser_allowed} times"
        );
        assert!(store.overflowed() > 0);
    }
}
