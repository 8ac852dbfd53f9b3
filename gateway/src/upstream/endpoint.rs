//! One upstream endpoint: address, label, peer template, health state and
//! its metric handles (resolved when its generation goes live, not while it
//! is built, so building has no side effects).

use super::address;
use super::passive::PassiveState;
use super::tls;
use crate::config::{ClusterConfig, EndpointAddress, EndpointConfig, UpstreamProtocol};
use crate::observe::metrics::{self, outcome, METRICS};
use pingora::upstreams::peer::HttpPeer;
use prometheus::{IntCounter, IntGauge};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::OnceLock;

/// An endpoint of a cluster pool.
pub struct Endpoint {
    /// Where it listens (IP:port or Unix socket).
    pub addr: EndpointAddress,
    /// What Pingora's balancer knows it by (see [`address::balancer_key`]).
    pub balancer_key: std::net::SocketAddr,
    /// Name in metrics and logs (`name` from config, or the address).
    pub label: String,
    /// Name of the cluster it belongs to.
    cluster: String,
    /// Opaque id written into sticky cookies (does not reveal the address).
    pub sticky_id: String,
    /// Peer with this cluster's timeouts, protocol and TLS settings, cloned
    /// per attempt.
    pub peer: HttpPeer,
    /// Passive health state.
    pub passive: PassiveState,
    /// Active health as the checks last decided (Pingora's view, mirrored
    /// here so the gauge can combine it with passive ejection). New
    /// endpoints start healthy, as in Pingora.
    active_healthy: AtomicBool,
    /// Whether its cluster runs active health checks.
    health_checked: bool,
    metrics: OnceLock<EndpointMetrics>,
}

/// Metric handles of one endpoint.
pub struct EndpointMetrics {
    /// `gateway_upstream_healthy` for this endpoint.
    pub healthy: IntGauge,
    /// `gateway_upstream_attempts_total` for this endpoint.
    pub attempts: AttemptCounters,
}

/// `gateway_upstream_attempts_total` handles for one endpoint.
pub struct AttemptCounters {
    /// A response came back.
    pub success: IntCounter,
    /// Connecting failed.
    pub connect_failure: IntCounter,
    /// The exchange failed after connecting.
    pub error: IntCounter,
    /// A retryable status came back.
    pub retryable_status: IntCounter,
}

impl Endpoint {
    /// Builds the endpoint of `cluster_name` from its config. Pure: metrics
    /// are untouched until [`Endpoint::activate`].
    pub fn new(
        cluster_name: &str,
        cluster: &ClusterConfig,
        cfg: &EndpointConfig,
        sticky_id: String,
    ) -> Self {
        let addr = cfg.address.clone();
        Endpoint {
            balancer_key: address::balancer_key(&addr),
            label: cfg.name.clone().unwrap_or_else(|| addr.to_string()),
            cluster: cluster_name.to_string(),
            sticky_id,
            peer: build_peer(&addr, cluster),
            addr,
            passive: PassiveState::default(),
            active_healthy: AtomicBool::new(true),
            health_checked: cluster.health_check.is_some(),
            metrics: OnceLock::new(),
        }
    }

    /// The endpoint's metric handles (resolved on first use).
    pub fn metrics(&self) -> &EndpointMetrics {
        self.metrics.get_or_init(|| {
            let (cluster, label) = (self.cluster.as_str(), self.label.as_str());
            let attempt = |o: &str| {
                METRICS
                    .upstream_attempts
                    .with_label_values(&[cluster, label, o])
            };
            EndpointMetrics {
                healthy: METRICS
                    .upstream_healthy
                    .with_label_values(&[cluster, label]),
                attempts: AttemptCounters {
                    success: attempt(outcome::SUCCESS),
                    connect_failure: attempt(outcome::CONNECT_FAILURE),
                    error: attempt(outcome::ERROR),
                    retryable_status: attempt(outcome::RETRYABLE_STATUS),
                },
            }
        })
    }

    /// Attempt outcome counters.
    pub fn attempts(&self) -> &AttemptCounters {
        &self.metrics().attempts
    }

    /// Publishes the endpoint's metrics; called once its generation is about
    /// to serve.
    pub fn activate(&self) {
        self.refresh_gauge();
        if self.health_checked {
            metrics::register_health_transitions(&self.cluster, &self.label);
        }
    }

    /// Whether active checks and passive health both let it take traffic.
    pub fn is_eligible(&self) -> bool {
        self.active_healthy.load(Relaxed) && !self.passive.is_ejected()
    }

    /// Records the active checks' verdict and updates the gauge.
    pub fn set_active_health(&self, healthy: bool) {
        self.active_healthy.store(healthy, Relaxed);
        self.refresh_gauge();
    }

    /// Sets `gateway_upstream_healthy` from the current state.
    pub fn refresh_gauge(&self) {
        self.metrics().healthy.set(i64::from(self.is_eligible()));
    }
}

fn build_peer(addr: &EndpointAddress, cluster: &ClusterConfig) -> HttpPeer {
    let mut peer = address::base_peer(addr);
    let t = &cluster.timeouts;
    peer.options.connection_timeout = Some(t.connect.0);
    peer.options.read_timeout = Some(t.read.0);
    peer.options.write_timeout = Some(t.write.0);
    peer.options.idle_timeout = Some(t.idle.0);
    match cluster.protocol {
        // HTTP/1.1, also offered by ALPN over TLS.
        UpstreamProtocol::Http1 => peer.options.set_http_version(1, 1),
        // HTTP/2 only: with prior knowledge in plaintext, by ALPN over TLS.
        UpstreamProtocol::H2c | UpstreamProtocol::H2 => {
            peer.options.set_http_version(2, 2);
            peer.options.max_h2_streams = 100;
        }
    }
    if let EndpointAddress::Inet(inet) = addr {
        // Unix socket endpoints on TLS clusters are refused by validation.
        tls::configure_peer(&mut peer, *inet, cluster);
    }
    peer
}
