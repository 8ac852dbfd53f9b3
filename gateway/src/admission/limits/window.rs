//! `window: { key, max, per }`: a sliding-window request count on
//! pingora-limits' `Rate`.
//!
//! `Rate` counts requests per key in fixed windows of `per` (a count-min
//! sketch: counts can be too high on hash collisions, never too low) and
//! keeps the previous window. The estimate of the last `per` is
//! `previous · (1 − f) + current`, `f` being the elapsed fraction of the
//! current window (`rate_with`). A request is counted first and refused,
//! and its count taken back, when the estimate is then above `max`: racing
//! requests may both be refused at the limit, never both admitted past it.

use pingora_limits::rate::{Rate, RateComponents};
use std::time::Duration;

/// The outcome of one window check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowDecision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Requests the key could still make now (after this one).
    pub remaining: u64,
    /// Time until the estimate falls below `max` again (zero when allowed).
    pub retry_after: Duration,
}

/// A sliding-window limit: at most `max` requests per key per `per`.
pub struct WindowLimiter {
    rate: Rate,
    max: u64,
    per: Duration,
}

impl WindowLimiter {
    /// `max` requests per `per` (validated: `max` ≥ 1, `per` ≥ 1 s).
    pub fn new(max: u64, per: Duration) -> Self {
        WindowLimiter {
            rate: Rate::new(per),
            max,
            per,
        }
    }

    /// The configured maximum per window.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The window length.
    pub fn per(&self) -> Duration {
        self.per
    }

    /// Counts one request of `key` and decides it.
    pub fn check(&self, key: &[u8]) -> WindowDecision {
        self.rate.observe(&key, 1);
        let (estimate, parts) = self.rate.rate_with(&key, |c: RateComponents| {
            let prev = c.prev_samples.max(0) as f64;
            let curr = c.curr_samples.max(0) as f64;
            (
                prev * (1.0 - c.current_interval_fraction) + curr,
                (prev, curr, c.current_interval_fraction),
            )
        });
        let max = self.max as f64;
        if estimate <= max {
            return WindowDecision {
                allowed: true,
                remaining: (max - estimate) as u64,
                retry_after: Duration::ZERO,
            };
        }
        self.rate.observe(&key, -1);
        let (prev, curr, fraction) = parts;
        // The estimate without this request must drop to max − 1 or below.
        let target = max - 1.0;
        let curr = curr - 1.0;
        let wait_fraction = if curr <= target && prev > 0.0 {
            // prev · (1 − f') + curr ≤ target within the current window.
            (1.0 - (target - curr) / prev - fraction).max(0.0)
        } else {
            // Next window: curr · (1 − f'') ≤ target.
            let next = if curr > 0.0 {
                (1.0 - target / curr).max(0.0)
            } else {
                0.0
            };
            (1.0 - fraction) + next
        };
        WindowDecision {
            allowed: false,
            remaining: 0,
            retry_after: self.per.mul_f64(wait_fraction.clamp(0.0, 2.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_max_then_refuses_with_a_wait_within_two_windows() {
        let w = WindowLimiter::new(3, Duration::from_secs(10));
        for left in [2, 1, 0] {
            let d = w.check(b"k");
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
        }
        let refused = w.check(b"k");
        assert!(!refused.allowed);
        assert!(refused.retry_after > Duration::ZERO);
        assert!(refused.retry_after <= Duration::from_secs(20));
        // Refusals are not counted: other keys and the same key stay bounded.
        assert!(!w.check(b"k").allowed);
        assert!(w.check(b"other").allowed);
    }
}
