//! One upstream endpoint: address, label, peer template, passive health
//! state and pre-resolved metric handles.

use super::passive::PassiveState;
use super::tls;
use crate::config::{ClusterConfig, EndpointConfig, UpstreamProtocol};
use crate::metrics::{self, outcome, METRICS};
use pingora::upstreams::peer::HttpPeer;
use prometheus::{IntCounter, IntGauge};
use std::net::SocketAddr;

/// An endpoint of a cluster pool.
pub struct Endpoint {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Name in metrics and logs (`name` from config, or the address).
    pub label: String,
    /// Opaque id written into sticky cookies (does not reveal the address).
    pub sticky_id: String,
    /// Peer with this cluster's timeouts, protocol and TLS settings, cloned
    /// per attempt.
    pub peer: HttpPeer,
    /// Passive health state.
    pub passive: PassiveState,
    /// `gateway_upstream_healthy` for this endpoint.
    pub healthy_gauge: IntGauge,
    /// Attempt outcome counters.
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
    /// Builds the endpoint of `cluster_name` from its config.
    pub fn new(cluster_name: &str, cluster: &ClusterConfig, cfg: &EndpointConfig) -> Self {
        let addr = cfg.address.0;
        let label = cfg.name.clone().unwrap_or_else(|| addr.to_string());
        let attempt = |o: &str| {
            METRICS
                .upstream_attempts
                .with_label_values(&[cluster_name, label.as_str(), o])
        };
        let attempts = AttemptCounters {
            success: attempt(outcome::SUCCESS),
            connect_failure: attempt(outcome::CONNECT_FAILURE),
            error: attempt(outcome::ERROR),
            retryable_status: attempt(outcome::RETRYABLE_STATUS),
        };
        let healthy_gauge = METRICS
            .upstream_healthy
            .with_label_values(&[cluster_name, label.as_str()]);
        healthy_gauge.set(1);
        if cluster.health_check.is_some() {
            metrics::register_health_transitions(cluster_name, &label);
        }
        Endpoint {
            addr,
            sticky_id: sticky_id(cluster_name, &addr),
            peer: build_peer(addr, cluster),
            label,
            passive: PassiveState::default(),
            healthy_gauge,
            attempts,
        }
    }
}

fn build_peer(addr: SocketAddr, cluster: &ClusterConfig) -> HttpPeer {
    let mut peer = HttpPeer::new(addr, false, String::new());
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
    tls::configure_peer(&mut peer, addr, cluster);
    peer
}

/// FNV-1a over the cluster name and address: stable across restarts and
/// reloads, so sticky cookies survive both.
fn sticky_id(cluster: &str, addr: &SocketAddr) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in cluster.bytes().chain([0]).chain(addr.to_string().bytes()) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
