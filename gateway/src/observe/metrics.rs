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
pub(crate) struct Metrics {
    /// `gateway_requests_total{route,status,protocol}`.
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
    /// `gateway_config_info{hash,generation}`: 1 for the generation serving
    /// now (the only series).
    pub config_info: IntGaugeVec,
    /// `gateway_config_watch_checks_total{result}`: reads of the config
    /// file by `gateway.config_watch`.
    pub config_watch_checks: IntCounterVec,
    /// `gateway_access_log_reopens_total{result}`: reopens of the access
    /// log file (SIGUSR1, `POST /logs/reopen`).
    pub access_log_reopens: IntCounterVec,
}

/// Outcome labels of `gateway_upstream_attempts_total`.
pub(crate) mod outcome {
    /// A response came back from the endpoint.
    pub(crate) const SUCCESS: &str = "success";
    /// The connection could not be established.
    pub(crate) const CONNECT_FAILURE: &str = "connect_failure";
    /// The exchange failed after connecting (timeout, reset, bad response).
    pub(crate) const ERROR: &str = "error";
    /// The endpoint answered with a status the retry policy retries.
    pub(crate) const RETRYABLE_STATUS: &str = "retryable_status";
}

/// Results of `gateway_config_reloads_total`.
const RELOAD_RESULTS: [&str; 2] = ["success", "failure"];

/// Results of `gateway_config_watch_checks_total`.
pub(crate) mod watch_result {
    /// The file's content is the one seen last, or it says what already
    /// serves (same config hash).
    pub(crate) const UNCHANGED: &str = "unchanged";
    /// A changed file was applied as a new generation.
    pub(crate) const APPLIED: &str = "applied";
    /// A changed file was refused; the current generation keeps serving.
    pub(crate) const REJECTED: &str = "rejected";
    /// The file could not be read.
    pub(crate) const UNREADABLE: &str = "unreadable";
    /// Every result.
    pub(crate) const ALL: [&str; 4] = [UNCHANGED, APPLIED, REJECTED, UNREADABLE];
}

/// Results of `gateway_access_log_reopens_total`.
pub(crate) mod reopen_result {
    /// The file was opened again at its path.
    pub(crate) const OK: &str = "ok";
    /// It could not be opened; the old file stays in use.
    pub(crate) const ERROR: &str = "error";
    /// Every result.
    pub(crate) const ALL: [&str; 2] = [OK, ERROR];
}

/// States of `gateway_health_transitions_total`.
const HEALTH_STATES: [&str; 2] = ["healthy", "unhealthy"];

/// Registers (at 0) the label sets known as soon as the process starts, so
/// every series exists before its first event.
fn register_known_series(m: &Metrics) {
    for result in RELOAD_RESULTS {
        m.config_reloads.with_label_values(&[result]);
    }
    for result in watch_result::ALL {
        m.config_watch_checks.with_label_values(&[result]);
    }
    for result in reopen_result::ALL {
        m.access_log_reopens.with_label_values(&[result]);
    }
}

/// Registers (at 0) the health transition series of an actively checked
/// endpoint, when its config is loaded.
pub(crate) fn register_health_transitions(cluster: &str, endpoint: &str) {
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
            "Requests handled, by route, response status and protocol.",
            &["route", "status", "protocol"]
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
        config_info: register_int_gauge_vec!(
            "gateway_config_info",
            "The config serving now: its hash (docs/CONFIG.md) and generation; always 1.",
            &["hash", "generation"]
        )
        .expect("metric registration"),
        config_watch_checks: reg(register_int_counter_vec!(
            "gateway_config_watch_checks_total",
            "Reads of the config file by gateway.config_watch, by result.",
            &["result"]
        )),
        access_log_reopens: reg(register_int_counter_vec!(
            "gateway_access_log_reopens_total",
            "Reopens of the access log file (SIGUSR1, POST /logs/reopen), by result.",
            &["result"]
        )),
    }
}

/// The `protocol` label of `gateway_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.x (plaintext or TLS).
    Http1,
    /// HTTP/2 over TLS.
    H2,
    /// HTTP/2 over plaintext (prior knowledge).
    H2c,
    /// A gRPC request (`content-type: application/grpc*`).
    Grpc,
    /// An upgrade request (WebSocket).
    Websocket,
}

impl Protocol {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Http1 => "http1",
            Protocol::H2 => "h2",
            Protocol::H2c => "h2c",
            Protocol::Grpc => "grpc",
            Protocol::Websocket => "websocket",
        }
    }
}

/// `gateway_requests_total{route,status,protocol}` handles of one route.
///
/// A route sees few distinct (status, protocol) pairs, so instead of a slot
/// per possible pair the handles live in a small open-addressed table,
/// each slot resolved on first use: the request path hashes the pair,
/// finds its slot (usually the first probed) and increments one counter.
/// Only a route that sees more than [`COUNTER_SLOTS`] distinct pairs
/// resolves the labels per request for the excess ones.
pub struct StatusCounters {
    route: String,
    slots: Box<[OnceLock<Slot>]>,
}

struct Slot {
    key: u32,
    counter: IntCounter,
}

/// Table size: a power of two, well above the pairs a route usually sees.
const COUNTER_SLOTS: usize = 64;

impl StatusCounters {
    /// Handles for `route`.
    pub fn new(route: &str) -> Self {
        StatusCounters {
            route: route.to_string(),
            slots: (0..COUNTER_SLOTS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Counts one request answered with `status` (0 when no response was
    /// sent) over `protocol`.
    pub fn inc(&self, status: u16, protocol: Protocol) {
        let key = u32::from(status) << 3 | protocol as u32;
        // Fibonacci hashing spreads neighbouring statuses over the table.
        let start = (key.wrapping_mul(0x9E37_79B9) >> 26) as usize;
        for probe in 0..COUNTER_SLOTS {
            let slot = &self.slots[(start + probe) % COUNTER_SLOTS];
            let found = slot.get_or_init(|| Slot {
                key,
                counter: self.resolve(status, protocol),
            });
            if found.key == key {
                found.counter.inc();
                return;
            }
        }
        self.resolve(status, protocol).inc();
    }

    fn resolve(&self, status: u16, protocol: Protocol) -> IntCounter {
        let label = status.to_string();
        METRICS
            .requests
            .with_label_values(&[self.route.as_str(), label.as_str(), protocol.label()])
    }
}

/// The process-wide metrics.
pub(crate) static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let m = build();
    register_known_series(&m);
    m
});

/// Renders every registered metric in the Prometheus text format.
pub(crate) fn render() -> String {
    use prometheus::Encoder;
    let mut buf = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    if let Err(e) = encoder.encode(&prometheus::gather(), &mut buf) {
        log::error!("encoding metrics failed: {e}");
    }
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(route: &str, status: &str, protocol: &str) -> u64 {
        METRICS
            .requests
            .with_label_values(&[route, status, protocol])
            .get()
    }

    #[test]
    fn each_status_and_protocol_pair_has_its_own_series() {
        let counters = StatusCounters::new("metrics-unit-pairs");
        counters.inc(200, Protocol::Http1);
        counters.inc(200, Protocol::Http1);
        counters.inc(200, Protocol::H2c);
        counters.inc(502, Protocol::Grpc);
        assert_eq!(count("metrics-unit-pairs", "200", "http1"), 2);
        assert_eq!(count("metrics-unit-pairs", "200", "h2c"), 1);
        assert_eq!(count("metrics-unit-pairs", "502", "grpc"), 1);
        assert_eq!(count("metrics-unit-pairs", "502", "http1"), 0);
    }

    #[test]
    fn pairs_beyond_the_table_are_still_counted() {
        let counters = StatusCounters::new("metrics-unit-overflow");
        let protocols = [Protocol::Http1, Protocol::H2, Protocol::Websocket];
        for status in 100..200u16 {
            for protocol in protocols {
                counters.inc(status, protocol);
                counters.inc(status, protocol);
            }
        }
        for status in 100..200u16 {
            for protocol in protocols {
                let status = status.to_string();
                assert_eq!(count("metrics-unit-overflow", &status, protocol.label()), 2);
            }
        }
    }
}
