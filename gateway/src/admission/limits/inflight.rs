//! Concurrency limits (`in_flight`) on pingora-limits' `Inflight`.
//!
//! A route or cluster has one [`InflightCounter`], carried from generation
//! to generation by name, so requests admitted before a reload still count
//! after it (whatever the new limit is). An admitted request holds a
//! [`Permits`] in its context; dropping the context at the end of the
//! request (response sent, error, client gone) releases it.

use pingora_limits::inflight::{Guard, Inflight};
use prometheus::IntGauge;

/// Requests in flight for one route or cluster.
pub struct InflightCounter {
    inflight: Inflight,
}

impl InflightCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        InflightCounter {
            inflight: Inflight::new(),
        }
    }

    /// Takes one slot if fewer than `max` are taken.
    ///
    /// The count is incremented first and the slot given back when it went
    /// over `max`, so racing requests can both be refused near the limit
    /// but never both admitted past it. The estimator is a count-min sketch
    /// of one key: it is exact here.
    pub fn try_acquire(&self, max: u32) -> Option<Guard> {
        let (guard, count) = self.inflight.incr((), 1);
        (count <= isize::try_from(max).unwrap_or(isize::MAX)).then_some(guard)
    }
}

impl Default for InflightCounter {
    fn default() -> Self {
        Self::new()
    }
}

/// The in-flight slots one request holds; released on drop.
#[derive(Default)]
pub struct Permits {
    route: Option<Guard>,
    cluster: Option<Guard>,
    gauge: Option<IntGauge>,
}

impl Permits {
    /// Records the slots of an admitted request and counts it in the
    /// route's `gateway_inflight_requests` gauge until dropped.
    pub fn hold(&mut self, route: Option<Guard>, cluster: Option<Guard>, gauge: Option<IntGauge>) {
        self.route = route;
        self.cluster = cluster;
        if let Some(g) = &gauge {
            g.inc();
        }
        self.gauge = gauge;
    }
}

impl Drop for Permits {
    fn drop(&mut self) {
        if let Some(g) = &self.gauge {
            g.dec();
        }
    }
}

impl std::fmt::Debug for Permits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permits")
            .field("route", &self.route.is_some())
            .field("cluster", &self.cluster.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_come_back_on_drop() {
        let counter = InflightCounter::new();
        let a = counter.try_acquire(2).expect("first");
        let b = counter.try_acquire(2).expect("second");
        assert!(counter.try_acquire(2).is_none());
        drop(a);
        let c = counter.try_acquire(2).expect("a slot came back");
        assert!(counter.try_acquire(2).is_none());
        drop((b, c));
        assert!(counter.try_acquire(1).is_some());
    }
}
