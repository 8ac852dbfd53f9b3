//! Monotonic nanosecond clocks for the limiters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonic time source in nanoseconds since an arbitrary, fixed origin.
pub trait Clock: Send + Sync {
    /// Nanoseconds since the clock's origin; never decreases.
    fn now_nanos(&self) -> u64;
}

/// The CPU's invariant time-stamp counter through `quanta` (calibrated
/// against the OS monotonic clock; quanta falls back to the OS clock where
/// the counter is unreliable). A read costs a few nanoseconds instead of a
/// `clock_gettime` call. Readings on different cores may differ by the
/// counters' skew; a reading that lags only makes a decision stricter.
#[derive(Debug, Clone)]
pub struct CounterClock {
    clock: quanta::Clock,
    origin: u64,
}

impl CounterClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        let clock = quanta::Clock::new();
        let origin = clock.raw();
        CounterClock { clock, origin }
    }
}

impl Default for CounterClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for CounterClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        self.clock.delta_as_nanos(self.origin, self.clock.raw())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn counter_clock_keeps_pace_with_the_os_clock() {
        let clock = CounterClock::new();
        let start = Instant::now();
        let first = clock.now_nanos();
        while start.elapsed() < Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        let advanced = clock.now_nanos() - first;
        let elapsed = start.elapsed().as_nanos() as u64;
        assert!(
            (10_000_000..=elapsed + 10_000_000).contains(&advanced),
            "counter advanced {advanced} ns over {elapsed} ns"
        );
    }
}
