//! Monotonic nanosecond clocks for the limiters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic time source in nanoseconds since an arbitrary, fixed origin.
pub trait Clock: Send + Sync {
    /// Nanoseconds since the clock's origin; never decreases.
    fn now_nanos(&self) -> u64;
}

/// The process's monotonic clock (`Instant`), counted from its creation.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        MonotonicClock {
            origin: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now_nanos(&self) -> u64 {
        // u64 nanoseconds last 584 years of uptime.
        self.origin.elapsed().as_nanos() as u64
    }
}

/// A clock that moves only when told to: virtual time for tests.
#[derive(Debug, Default)]
pub struct FakeClock {
    nanos: AtomicU64,
}

impl FakeClock {
    /// A fake clock reading `nanos`.
    pub fn at(nanos: u64) -> Self {
        FakeClock {
            nanos: AtomicU64::new(nanos),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.advance_nanos(by.as_nanos() as u64);
    }

    /// Moves the clock forward by `nanos`.
    pub fn advance_nanos(&self, nanos: u64) {
        self.nanos.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::SeqCst)
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now_nanos(&self) -> u64 {
        (**self).now_nanos()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now_nanos(&self) -> u64 {
        (**self).now_nanos()
    }
}
