//! GCRA: the Generic Cell Rate Algorithm, in its theoretical-arrival-time form.
//!
//! A policy allows `rate` requests per period with bursts of up to `burst`.
//! With emission interval `T = period / count` and tolerance
//! `τ = (burst − 1)·T`, each key keeps one number, its theoretical arrival
//! time (TAT). A request at `now` is allowed iff `max(TAT, now) − now ≤ τ`;
//! an allowed request moves the TAT to `max(TAT, now) + T`.
//!
//! Guarantee: in any window of length `t`, at most `burst + ⌊t / T⌋`
//! requests of one key are allowed, and requests spaced at least `T` apart
//! are always allowed. `T` is rounded up to whole nanoseconds, so rounding
//! never admits more than the configured rate.
//!
//! The TAT lives in one `AtomicU64` per key and is updated with a
//! compare-and-swap loop ([`check_atomic`]), so concurrent requests on one key
//! are decided exactly as if they had arrived one after another.
//!
//! This module is the arithmetic only; [`super::limiter`] puts a policy, a
//! clock and a key store together.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A compiled GCRA policy: emission interval and tolerance in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraPolicy {
    count: u64,
    period: Duration,
    burst: u64,
    /// Emission interval T in nanoseconds (at least 1).
    interval: u64,
    /// Tolerance τ = (burst − 1)·T in nanoseconds.
    tolerance: u64,
}

/// Why a policy cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// `count` was 0.
    ZeroRate,
    /// `burst` was 0.
    ZeroBurst,
    /// The period was zero.
    ZeroPeriod,
    /// `(burst − 1)·T` does not fit in 584 years of nanoseconds.
    BurstTooLarge,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            PolicyError::ZeroRate => "the rate must allow at least 1 request",
            PolicyError::ZeroBurst => "burst must be at least 1",
            PolicyError::ZeroPeriod => "the rate's period must be longer than zero",
            PolicyError::BurstTooLarge => "burst times the emission interval overflows",
        })
    }
}

impl std::error::Error for PolicyError {}

impl GcraPolicy {
    /// `count` requests per `period`, bursts of up to `burst`.
    pub fn new(count: u64, period: Duration, burst: u64) -> Result<Self, PolicyError> {
        if count == 0 {
            return Err(PolicyError::ZeroRate);
        }
        if burst == 0 {
            return Err(PolicyError::ZeroBurst);
        }
        let period_ns = u64::try_from(period.as_nanos()).map_err(|_| PolicyError::BurstTooLarge)?;
        if period_ns == 0 {
            return Err(PolicyError::ZeroPeriod);
        }
        let interval = period_ns.div_ceil(count);
        let tolerance = (burst - 1)
            .checked_mul(interval)
            .filter(|tau| tau.checked_add(interval).is_some())
            .ok_or(PolicyError::BurstTooLarge)?;
        Ok(GcraPolicy {
            count,
            period,
            burst,
            interval,
            tolerance,
        })
    }

    /// Requests per period, as configured.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The rate's period, as configured.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The largest number of requests allowed at one instant.
    pub fn burst(&self) -> u64 {
        self.burst
    }

    /// Emission interval T in nanoseconds.
    pub fn interval_nanos(&self) -> u64 {
        self.interval
    }

    /// Tolerance τ in nanoseconds.
    pub fn tolerance_nanos(&self) -> u64 {
        self.tolerance
    }

    /// One GCRA step: the decision for a request at `now` given the key's
    /// stored TAT (0 for a key never seen), and the TAT to store if allowed.
    #[inline]
    pub fn step(&self, stored_tat: u64, now: u64) -> (Decision, Option<u64>) {
        let tat = stored_tat.max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            let decision = Decision {
                allowed: false,
                remaining: 0,
                retry_after: Duration::from_nanos(ahead - self.tolerance),
                reset_after: Duration::from_nanos(ahead),
            };
            return (decision, None);
        }
        let new_tat = tat.saturating_add(self.interval);
        let ahead = ahead + self.interval;
        let decision = Decision {
            allowed: true,
            remaining: (self.tolerance + self.interval - ahead) / self.interval,
            retry_after: Duration::ZERO,
            reset_after: Duration::from_nanos(ahead),
        };
        (decision, Some(new_tat))
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Requests this key could still make right now, after this one.
    pub remaining: u64,
    /// Time until the next request of this key would be allowed (zero when
    /// allowed).
    pub retry_after: Duration,
    /// Time until the key's full burst is available again.
    pub reset_after: Duration,
}

/// Applies one GCRA step to a TAT held in an atomic, retrying on contention.
#[inline]
pub(crate) fn check_atomic(tat: &AtomicU64, policy: &GcraPolicy, now: u64) -> Decision {
    let mut current = tat.load(Ordering::Acquire);
    loop {
        let (decision, next) = policy.step(current, now);
        let Some(next) = next else {
            return decision;
        };
        match tat.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return decision,
            Err(actual) => current = actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(count: u64, burst: u64) -> GcraPolicy {
        GcraPolicy::new(count, Duration::from_secs(1), burst).expect("valid policy")
    }

    #[test]
    fn interval_and_tolerance_follow_rate_and_burst() {
        let p = policy(10, 20);
        assert_eq!(p.interval_nanos(), 100_000_000);
        assert_eq!(p.tolerance_nanos(), 19 * 100_000_000);
        // 3 per second does not divide a second: T rounds up, never down.
        assert_eq!(policy(3, 1).interval_nanos(), 333_333_334);
    }

    #[test]
    fn rejects_zero_and_overflowing_policies() {
        let second = Duration::from_secs(1);
        assert_eq!(GcraPolicy::new(0, second, 1), Err(PolicyError::ZeroRate));
        assert_eq!(GcraPolicy::new(1, second, 0), Err(PolicyError::ZeroBurst));
        assert_eq!(
            GcraPolicy::new(1, Duration::ZERO, 1),
            Err(PolicyError::ZeroPeriod)
        );
        assert_eq!(
            GcraPolicy::new(1, Duration::from_secs(3600), u64::MAX),
            Err(PolicyError::BurstTooLarge)
        );
    }

    #[test]
    fn a_full_burst_then_one_per_interval() {
        let p = policy(10, 3);
        let tat = AtomicU64::new(0);
        let now = 1_000_000_000;
        let remaining: Vec<u64> = (0..3)
            .map(|_| check_atomic(&tat, &p, now))
            .inspect(|d| assert!(d.allowed))
            .map(|d| d.remaining)
            .collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        let denied = check_atomic(&tat, &p, now);
        assert!(!denied.allowed);
        assert_eq!(denied.retry_after, Duration::from_millis(100));
        assert_eq!(denied.reset_after, Duration::from_millis(300));
        assert!(check_atomic(&tat, &p, now + 100_000_000).allowed);
        assert!(!check_atomic(&tat, &p, now + 100_000_000).allowed);
    }

    #[test]
    fn config_validation_accepts_exactly_the_policies_the_limiter_builds() {
        use crate::config::limits::gcra_tolerance_nanos;
        let periods = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_secs(1),
            Duration::from_secs(3600),
            // One interval of 2^63 ns: a burst of 2 fits τ but not τ + T.
            Duration::from_nanos(1 << 63),
            Duration::from_secs(u64::MAX / 4),
        ];
        let counts = [0, 1, 3, 1_000_000_000, u64::MAX];
        let bursts = [0, 1, 2, 1 << 20, u64::MAX / 2, u64::MAX];
        for &period in &periods {
            for &count in &counts {
                for &burst in &bursts {
                    let built = GcraPolicy::new(count, period, burst);
                    let validated = gcra_tolerance_nanos(count, period, burst);
                    assert_eq!(
                        built.as_ref().ok().map(|p| p.tolerance_nanos()),
                        validated,
                        "count {count}, period {period:?}, burst {burst}: {built:?}"
                    );
                }
            }
        }
    }
}
