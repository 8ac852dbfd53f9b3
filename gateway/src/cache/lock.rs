//! Pingora's cache lock, counting the requests that wait behind a fill.
//!
//! Pingora gives no hook while a request waits, so the count is kept here:
//! a read lock handed out is a waiter, and every waiter of a key stops
//! waiting when the writer releases it (a waiter that timed out first is
//! counted until then).

use pingora::cache::key::CacheHashKey;
use pingora::cache::lock::{CacheKeyLock, CacheLock, LockStatus, Locked, WritePermit};
use pingora::cache::CacheKey;
use prometheus::{IntCounter, IntGauge};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Metric handles a request's cache key carries (in its extensions) so the
/// lock can count waiters per route.
#[derive(Clone)]
pub(crate) struct WaitCounters {
    /// `gateway_cache_lock_waits_total{route}`.
    pub waits: IntCounter,
    /// `gateway_cache_lock_waiters{route}`.
    pub waiters: IntGauge,
}

/// A [`CacheLock`] that counts its waiters.
pub(crate) struct CountingLock {
    inner: CacheLock,
    waiting: Mutex<HashMap<u128, (IntGauge, i64)>>,
}

impl CountingLock {
    /// A lock whose writers are replaced after `age_timeout`.
    pub(crate) fn new(age_timeout: Duration) -> Self {
        CountingLock {
            inner: CacheLock::new(age_timeout),
            waiting: Mutex::new(HashMap::new()),
        }
    }
}

fn lock_id(key: &CacheKey) -> u128 {
    u128::from_be_bytes(key.combined_bin())
}

impl CacheKeyLock for CountingLock {
    fn lock(&self, key: &CacheKey, stale_writer: bool) -> Locked {
        let locked = self.inner.lock(key, stale_writer);
        if !locked.is_write() {
            if let Some(c) = key.extensions.get::<WaitCounters>() {
                c.waits.inc();
                c.waiters.inc();
                let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
                waiting
                    .entry(lock_id(key))
                    .or_insert_with(|| (c.waiters.clone(), 0))
                    .1 += 1;
            }
        }
        locked
    }

    fn release(&self, key: &CacheKey, permit: WritePermit, reason: LockStatus) {
        let released = self
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&lock_id(key));
        self.inner.release(key, permit, reason);
        if let Some((gauge, n)) = released {
            gauge.sub(n);
        }
    }

    fn custom_lock_status(&self, custom_no_cache: &'static str) -> LockStatus {
        self.inner.custom_lock_status(custom_no_cache)
    }
}
