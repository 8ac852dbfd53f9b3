//! The GCRA limiter front end: one policy ([`super::gcra`]), a clock
//! ([`super::clock`]) and a per-key state store ([`super::store`]).

use super::clock::{Clock, CounterClock};
use super::gcra::{Decision, GcraPolicy};
use super::store::{GcraStore, ShardedStore};

/// A GCRA limiter: one policy, a clock and a per-key state store.
pub struct GcraLimiter<C: Clock = CounterClock, S: GcraStore = ShardedStore> {
    policy: GcraPolicy,
    clock: C,
    store: S,
}

impl GcraLimiter {
    /// A limiter on the CPU counter clock with an in-process store of up
    /// to `max_keys` keys.
    pub fn in_process(policy: GcraPolicy, max_keys: usize) -> Self {
        GcraLimiter::new(policy, CounterClock::new(), ShardedStore::new(max_keys))
    }
}

impl<C: Clock, S: GcraStore> GcraLimiter<C, S> {
    /// A limiter over the given clock and store.
    pub fn new(policy: GcraPolicy, clock: C, store: S) -> Self {
        GcraLimiter {
            policy,
            clock,
            store,
        }
    }

    /// Decides one request of `key` now.
    #[inline]
    pub fn check(&self, key: &[u8]) -> Decision {
        self.store.check(key, &self.policy, self.clock.now_nanos())
    }

    /// The limiter's policy.
    pub fn policy(&self) -> &GcraPolicy {
        &self.policy
    }

    /// The limiter's store.
    pub fn store(&self) -> &S {
        &self.store
    }
}
