//! Metrics of client connections.

use prometheus::{register_int_counter_vec, register_int_gauge_vec, IntCounterVec, IntGaugeVec};
use std::sync::LazyLock;

/// Metrics of client connections.
pub(super) struct EdgeMetrics {
    /// `gateway_downstream_connections{listener}`: open client connections.
    pub downstream_connections: IntGaugeVec,
    /// `gateway_proxy_protocol_rejections_total{listener,reason}`:
    /// connections closed for a missing or bad PROXY protocol header.
    pub proxy_protocol_rejections: IntCounterVec,
}

/// The process-wide client connection metrics.
pub(super) static EDGE_METRICS: LazyLock<EdgeMetrics> = LazyLock::new(|| EdgeMetrics {
    // Constant names: registration fails only on a programming error.
    downstream_connections: register_int_gauge_vec!(
        "gateway_downstream_connections",
        "Open client connections, by listener.",
        &["listener"]
    )
    .expect("metric registration"),
    proxy_protocol_rejections: register_int_counter_vec!(
        "gateway_proxy_protocol_rejections_total",
        "Client connections closed for a missing or bad PROXY protocol header.",
        &["listener", "reason"]
    )
    .expect("metric registration"),
});
