//! Limit metrics: rejections per route and limiter, requests in flight per
//! route, and the keys held by the rate limiters.
//!
//! Handles are resolved per route when a generation is built (see
//! [`RouteLimitMetrics`]); the request path never looks labels up.
//! `gateway_ratelimit_keys` is computed when metrics are gathered: the sum
//! of the keys held by every GCRA limiter still alive (an old generation's
//! limiters count until its last request has finished).

use super::limiter::GcraLimiter;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    register_int_counter_vec, register_int_gauge_vec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec,
};
use std::sync::{Arc, LazyLock, Mutex, Weak};

/// Limiter label of a GCRA rejection.
pub(crate) const GCRA: &str = "gcra";
/// Limiter label of a window rejection.
pub(crate) const WINDOW: &str = "window";

struct LimitMetrics {
    ratelimit_rejections: IntCounterVec,
    inflight_rejections: IntCounterVec,
    inflight_requests: IntGaugeVec,
}

static METRICS: LazyLock<LimitMetrics> = LazyLock::new(|| {
    // Registration fails only for duplicate or malformed names, which are
    // constants here: a failure is a programming error any test catches.
    let keys = KeysCollector {
        gauge: IntGauge::new(
            "gateway_ratelimit_keys",
            "Keys held by the GCRA rate limiters",
        )
        .expect("metric definition"),
    };
    prometheus::register(Box::new(keys)).expect("metric registration");
    LimitMetrics {
        ratelimit_rejections: register_int_counter_vec!(
            "gateway_ratelimit_rejections_total",
            "Requests refused with 429 by a rate limiter",
            &["route", "limiter"]
        )
        .expect("metric registration"),
        inflight_rejections: register_int_counter_vec!(
            "gateway_inflight_rejections_total",
            "Requests refused with 503 by an in-flight limit",
            &["route"]
        )
        .expect("metric registration"),
        inflight_requests: register_int_gauge_vec!(
            "gateway_inflight_requests",
            "Requests of a route with an in-flight limit being served now",
            &["route"]
        )
        .expect("metric registration"),
    }
});

/// The GCRA limiters whose keys `gateway_ratelimit_keys` counts.
static LIVE_LIMITERS: Mutex<Vec<Weak<GcraLimiter>>> = Mutex::new(Vec::new());

/// Counts `limiter`'s keys in `gateway_ratelimit_keys` while it lives.
pub(crate) fn track_keys(limiter: &Arc<GcraLimiter>) {
    LazyLock::force(&METRICS);
    let mut live = LIVE_LIMITERS.lock().unwrap_or_else(|e| e.into_inner());
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(limiter));
}

struct KeysCollector {
    gauge: IntGauge,
}

impl Collector for KeysCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let live = LIVE_LIMITERS.lock().unwrap_or_else(|e| e.into_inner());
        let keys: usize = live
            .iter()
            .filter_map(Weak::upgrade)
            .map(|l| l.store().len())
            .sum();
        self.gauge.set(i64::try_from(keys).unwrap_or(i64::MAX));
        self.gauge.collect()
    }
}

/// One route's limit metric handles (only those of limiters it has).
#[derive(Clone, Default)]
pub struct RouteLimitMetrics {
    /// `gateway_ratelimit_rejections_total{route,limiter="gcra"}`.
    pub gcra_rejections: Option<IntCounter>,
    /// `gateway_ratelimit_rejections_total{route,limiter="window"}`.
    pub window_rejections: Option<IntCounter>,
    /// `gateway_inflight_rejections_total{route}`.
    pub inflight_rejections: Option<IntCounter>,
    /// `gateway_inflight_requests{route}`.
    pub inflight_requests: Option<IntGauge>,
}

impl RouteLimitMetrics {
    /// Resolves (and so creates at 0) the series of the limiters a route has.
    pub fn new(route: &str, gcra: bool, window: bool, in_flight: bool) -> Self {
        if !(gcra || window || in_flight) {
            return RouteLimitMetrics::default();
        }
        let m = &*METRICS;
        RouteLimitMetrics {
            gcra_rejections: gcra.then(|| m.ratelimit_rejections.with_label_values(&[route, GCRA])),
            window_rejections: window
                .then(|| m.ratelimit_rejections.with_label_values(&[route, WINDOW])),
            inflight_rejections: in_flight
                .then(|| m.inflight_rejections.with_label_values(&[route])),
            inflight_requests: in_flight.then(|| m.inflight_requests.with_label_values(&[route])),
        }
    }
}
