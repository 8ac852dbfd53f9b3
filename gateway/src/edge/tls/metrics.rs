//! TLS metrics, in the default registry beside the gateway's others.

use prometheus::{register_int_counter_vec, register_int_gauge_vec, IntCounterVec, IntGaugeVec};
use std::sync::LazyLock;

/// Every downstream TLS metric.
pub(crate) struct TlsMetrics {
    /// `gateway_tls_handshake_failures_total{listener,reason}`.
    pub handshake_failures: IntCounterVec,
    /// `gateway_tls_certificate_expiry_seconds{listener,host}`: the Unix
    /// time at which each served certificate expires.
    pub certificate_expiry: IntGaugeVec,
}

/// The process-wide TLS metrics.
pub(crate) static TLS_METRICS: LazyLock<TlsMetrics> = LazyLock::new(|| {
    // Names are constants: a registration failure is a programming error.
    TlsMetrics {
        handshake_failures: register_int_counter_vec!(
            "gateway_tls_handshake_failures_total",
            "Client TLS handshakes that failed, by listener and reason.",
            &["listener", "reason"]
        )
        .expect("register gateway_tls_handshake_failures_total"),
        certificate_expiry: register_int_gauge_vec!(
            "gateway_tls_certificate_expiry_seconds",
            "Unix time at which a listener's certificate expires, by server name (`default` for the default certificate).",
            &["listener", "host"]
        )
        .expect("register gateway_tls_certificate_expiry_seconds"),
    }
});
