//! Prometheus metrics, registered once in the default registry (the one
//! `prometheus::gather()` and Pingora's own Prometheus service read).
//!
//! Label handles that are known at config load (per route, cluster and
//! endpoint) are resolved then, not per request, which also makes their
//! series exist (at 0) from the start: a scenario that asks for a series
//! that does not exist fails instead of reading 0.

use prometheus::{
    register_histogram_vec, register_int_counter_vec, register_int_gauge_vec, HistogramVec,
    IntCounterVec, IntGaugeVec,
};
use prometheus::{register_int_gauge, IntCounter, IntGauge};
use std::sync::{LazyLock, OnceLock};

/// Every metric the gateway exports.
pub struct Metrics {
    /// `gateway_requests_total{route,status}`.
    pub requests: IntCounterVec,
    /// `gateway_request_duration_seconds{route}`.
    pub request_duration: HistogramVec,
    /// `gateway_upstream_attempts_total{cluster,endpoint,outcome}`.
    pub upstream_attempts: IntCounterVec,
    /// `gateway_upstream_healthy{cluster,endpoint}`: 1 healthy, 0 not.
    pub upstream_healthy: IntGaugeVec,
    /// `gateway_retries_total{cluster}`.
    pub retries: IntCounterVec,
    /// `gateway_failover_total{cluster}`: requests served by the backup pool.
    pub failover: IntCounterVec,
    /// `gateway_config_reloads_total{result}`.
    pub config_reloads: IntCounterVec,
    /// `gateway_upstream_connections_total{cluster,reused}`.
    pub upstream_connections: IntCounterVec,
    /// `gateway_health_transitions_total{cluster,endpoint,to}`.
    pub health_transitions: IntCounterVec,
    /// `gateway_websocket_connections`: upgraded WebSocket connections open now.
    pub websocket_connections: IntGauge,
}

/// Outcome labels of `gateway_upstream_attempts_total`.
pub mod outcome {
    /// A response came back from the endpoint.
    pub const SUCCESS: &str = "success";
    /// The connection could not be established.
    pub const CONNECT_FAILURE: &str = "connect_failure";
    /// The exchange failed after connecting (timeout, reset, bad response).
    pub const ERROR: &str = "error";
    /// The endpoint answered with a status the retry policy retries.
    pub const RETRYABLE_STATUS: &str = "retryable_status";
}

/// Results of `gateway_config_reloads_total`.
const RELOAD_RESULTS: [&str; 2] = ["success", "failure"];

/// States of `gateway_health_transitions_total`.
const HEALTH_STATES: [&str; 2] = ["healthy", "unhealthy"];

/// Registers (at 0) the label sets known as soon as the process starts, so
/// every series exists before its first event.
fn register_known_series(m: &Metrics) {
    for result in RELOAD_RESULTS {
        m.config_reloads.with_label_values(&[result]);
    }
}

/// Registers (at 0) the health transition series of an actively checked
/// endpoint, when its config is loaded.
pub fn register_health_transitions(cluster: &str, endpoint: &str) {
    for to in HEALTH_STATES {
        METRICS
            .health_transitions
            .with_label_values(&[cluster, endpoint, to]);
    }
}

fn build() -> Metrics {
    // Registration only fails for duplicate or malformed names, which are
    // constants here: a failure is a programming error caught by any test.
    let reg = |r: prometheus::Result<IntCounterVec>| r.expect("metric registration");
    Metrics {
        requests: reg(register_int_counter_vec!(
            "gateway_requests_total",
            "Requests handled, by route and response status.",
            &["route", "status"]
        )),
        request_duration: register_histogram_vec!(
            "gateway_request_duration_seconds",
            "Time from request start to the end of the response, by route.",
            &["route"],
            vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
        )
        .expect("metric registration"),
        upstream_attempts: reg(register_int_counter_vec!(
            "gateway_upstream_attempts_total",
            "Attempts to reach an upstream endpoint, by outcome.",
            &["cluster", "endpoint", "outcome"]
        )),
        upstream_healthy: register_int_gauge_vec!(
            "gateway_upstream_healthy",
            "Whether an endpoint is currently eligible for traffic (1) or not (0).",
            &["cluster", "endpoint"]
        )
        .expect("metric registration"),
        retries: reg(register_int_counter_vec!(
            "gateway_retries_total",
            "Upstream attempts that were retries of a failed attempt.",
            &["cluster"]
        )),
        failover: reg(register_int_counter_vec!(
            "gateway_failover_total",
            "Requests sent to the backup pool because no primary endpoint was healthy.",
            &["cluster"]
        )),
        config_reloads: reg(register_int_counter_vec!(
            "gateway_config_reloads_total",
            "Config reload attempts, by result.",
            &["result"]
        )),
        upstream_connections: reg(register_int_counter_vec!(
            "gateway_upstream_connections_total",
            "Upstream connections used, new or reused from the pool.",
            &["cluster", "reused"]
        )),
        health_transitions: reg(register_int_counter_vec!(
            "gateway_health_transitions_total",
            "Endpoint health changes, by the state entered.",
            &["cluster", "endpoint", "to"]
        )),
        websocket_connections: register_int_gauge!(
            "gateway_websocket_connections",
            "WebSocket connections relayed now (after the upstream's 101)."
        )
        .expect("metric registration"),
    }
}

/// `gateway_requests_total{route,status}` handles of one route, resolved on
/// first use per status so the request path skips the label lookup.
pub struct StatusCounters {
    route: String,
    slots: Box<[OnceLock<IntCounter>]>,
}

/// One slot per possible status: 0 (no response) and 100..=999, the range
/// `http::StatusCode` allows.
const STATUS_SLOTS: usize = 1000;

impl StatusCounters {
    /// Handles for `route`.
    pub fn new(route: &str) -> Self {
        StatusCounters {
            route: route.to_string(),
            slots: (0..STATUS_SLOTS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The counter for `status` (0 when no response was sent).
    pub fn get(&self, status: u16) -> &IntCounter {
        let slot = &self.slots[usize::from(status).min(STATUS_SLOTS - 1)];
        slot.get_or_init(|| {
            let label = status.to_string();
            METRICS
                .requests
                .with_label_values(&[self.route.as_str(), label.as_str()])
        })
    }
}

/// The process-wide metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let m = build();
    register_known_series(&m);
    m
});

/// Renders every registered metric in the Prometheus text format.
pub fn render() -> String {
    use prometheus::Encoder;
    let mut buf = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    if let Err(e) = encoder.encode(&prometheus::gather(), &mut buf) {
        log::error!("encoding metrics failed: {e}");
    }
    String::from_utf8(buf).unwrap_or_default()
}
