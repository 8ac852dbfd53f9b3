//! Cache metrics, in the default registry beside the gateway's others.

use prometheus::{
    register_int_counter, register_int_counter_vec, register_int_gauge, register_int_gauge_vec,
    IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
};
use std::sync::LazyLock;

/// Every cache metric.
pub(crate) struct CacheMetrics {
    /// `gateway_cache_lookups_total{route,status}`.
    pub lookups: IntCounterVec,
    /// `gateway_cache_lock_waits_total{route}`.
    pub lock_waits: IntCounterVec,
    /// `gateway_cache_lock_waiters{route}`.
    pub lock_waiters: IntGaugeVec,
    /// `gateway_cache_revalidations_total{route,result}`.
    pub revalidations: IntCounterVec,
    /// `gateway_cache_purges_total{result}`.
    pub purges: IntCounterVec,
    /// `gateway_cache_evictions_total`.
    pub evictions: IntCounter,
    /// `gateway_cache_bytes`.
    pub bytes: IntGauge,
}

/// Statuses of `gateway_cache_lookups_total`.
pub(crate) const LOOKUP_STATUSES: [&str; 5] = ["hit", "miss", "stale", "expired", "bypass"];
/// Results of `gateway_cache_revalidations_total`.
pub(crate) const REVALIDATION_RESULTS: [&str; 3] = ["not_modified", "modified", "error"];
/// Results of `gateway_cache_purges_total`.
pub(crate) const PURGE_RESULTS: [&str; 3] = ["purged", "not_found", "forbidden"];

/// The process-wide cache metrics.
pub(crate) static CACHE_METRICS: LazyLock<CacheMetrics> = LazyLock::new(|| {
    // Names are constants: a registration failure is a programming error.
    let m = CacheMetrics {
        lookups: register_int_counter_vec!(
            "gateway_cache_lookups_total",
            "Cache lookups on caching routes, by outcome.",
            &["route", "status"]
        )
        .expect("metric registration"),
        lock_waits: register_int_counter_vec!(
            "gateway_cache_lock_waits_total",
            "Requests that waited for another request filling the same cache key.",
            &["route"]
        )
        .expect("metric registration"),
        lock_waiters: register_int_gauge_vec!(
            "gateway_cache_lock_waiters",
            "Requests currently waiting for a cache fill, by route.",
            &["route"]
        )
        .expect("metric registration"),
        revalidations: register_int_counter_vec!(
            "gateway_cache_revalidations_total",
            "Conditional requests for stale entries, by result.",
            &["route", "result"]
        )
        .expect("metric registration"),
        purges: register_int_counter_vec!(
            "gateway_cache_purges_total",
            "Purge requests (PURGE and admin), by result.",
            &["result"]
        )
        .expect("metric registration"),
        evictions: register_int_counter!(
            "gateway_cache_evictions_total",
            "Entries evicted to stay within cache_storage.max_bytes."
        )
        .expect("metric registration"),
        bytes: register_int_gauge!(
            "gateway_cache_bytes",
            "Bytes accounted to stored cache entries."
        )
        .expect("metric registration"),
    };
    for r in PURGE_RESULTS {
        m.purges.with_label_values(&[r]);
    }
    m
});

/// Per-route handles, resolved when the route is compiled, which also
/// makes the series exist at 0 before the first request.
pub struct RouteCacheMetrics {
    /// Lookup counters in [`LOOKUP_STATUSES`] order.
    pub lookups: [IntCounter; 5],
    /// Lock waits.
    pub lock_waits: IntCounter,
    /// Current lock waiters.
    pub lock_waiters: IntGauge,
    /// Revalidations in [`REVALIDATION_RESULTS`] order.
    pub revalidations: [IntCounter; 3],
}

impl RouteCacheMetrics {
    /// Handles for `route`.
    pub fn new(route: &str) -> Self {
        let m = &*CACHE_METRICS;
        RouteCacheMetrics {
            lookups: LOOKUP_STATUSES.map(|s| m.lookups.with_label_values(&[route, s])),
            lock_waits: m.lock_waits.with_label_values(&[route]),
            lock_waiters: m.lock_waiters.with_label_values(&[route]),
            revalidations: REVALIDATION_RESULTS
                .map(|r| m.revalidations.with_label_values(&[route, r])),
        }
    }
}
