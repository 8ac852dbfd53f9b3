//! Passive health: endpoints that keep failing to connect are ejected.
//!
//! Bound: an endpoint is ejected after exactly `threshold` consecutive
//! connect failures (any success in between resets the count). With an
//! active health check it stays ejected until a check succeeds; without one,
//! for the configured cooldown.

use super::clock::now_ms;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Ejected until a successful active check.
const UNTIL_CHECKED: u64 = u64::MAX;

/// Per-endpoint passive health state.
#[derive(Debug, Default)]
pub struct PassiveState {
    consecutive_failures: AtomicU32,
    /// 0: not ejected; otherwise the [`now_ms`] at which ejection ends.
    ejected_until: AtomicU64,
}

impl PassiveState {
    /// Records a connect failure; returns true when this one ejected the
    /// endpoint. `threshold` 0 disables ejection; `cooldown` None means "until
    /// the next successful active check".
    pub fn on_connect_failure(&self, threshold: u32, cooldown: Option<Duration>) -> bool {
        let failures = self.consecutive_failures.fetch_add(1, Relaxed) + 1;
        if threshold == 0 || failures < threshold || self.is_ejected() {
            return false;
        }
        let until = match cooldown {
            Some(c) => now_ms()
                .saturating_add(u64::try_from(c.as_millis()).unwrap_or(u64::MAX))
                .min(UNTIL_CHECKED - 1),
            None => UNTIL_CHECKED,
        };
        self.ejected_until.store(until, Relaxed);
        true
    }

    /// Records a successful connection.
    pub fn on_connect_success(&self) {
        if self.consecutive_failures.load(Relaxed) != 0 {
            self.consecutive_failures.store(0, Relaxed);
        }
    }

    /// Clears an ejection after a successful active check; returns whether
    /// the endpoint was ejected.
    pub fn on_check_success(&self) -> bool {
        self.consecutive_failures.store(0, Relaxed);
        self.ejected_until.swap(0, Relaxed) != 0
    }

    /// Clears an ejection whose cooldown has passed; returns whether this
    /// call cleared it.
    pub fn take_expired(&self) -> bool {
        let until = self.ejected_until.load(Relaxed);
        until != 0
            && until != UNTIL_CHECKED
            && now_ms() >= until
            && self
                .ejected_until
                .compare_exchange(until, 0, Relaxed, Relaxed)
                .is_ok()
    }

    /// Whether the endpoint is currently ejected.
    pub fn is_ejected(&self) -> bool {
        match self.ejected_until.load(Relaxed) {
            0 => false,
            UNTIL_CHECKED => true,
            until => now_ms() < until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ejects_after_threshold_consecutive_failures_only() {
        let s = PassiveState::default();
        assert!(!s.on_connect_failure(3, None));
        assert!(!s.on_connect_failure(3, None));
        s.on_connect_success();
        assert!(!s.on_connect_failure(3, None));
        assert!(!s.on_connect_failure(3, None));
        assert!(!s.is_ejected());
        assert!(s.on_connect_failure(3, None));
        assert!(s.is_ejected());
        assert!(s.on_check_success());
        assert!(!s.is_ejected());
    }

    #[test]
    fn zero_threshold_never_ejects() {
        let s = PassiveState::default();
        for _ in 0..10 {
            assert!(!s.on_connect_failure(0, None));
        }
        assert!(!s.is_ejected());
    }

    #[test]
    fn cooldown_ejection_expires() {
        let s = PassiveState::default();
        assert!(s.on_connect_failure(1, Some(Duration::ZERO)));
        assert!(!s.is_ejected());
        assert!(s.take_expired());
        assert!(!s.take_expired());
    }

    #[test]
    fn ejections_until_a_check_never_expire() {
        let s = PassiveState::default();
        assert!(s.on_connect_failure(1, None));
        assert!(!s.take_expired());
        assert!(s.is_ejected());
    }
}
