//! Endpoint addresses at runtime: the peer an endpoint is reached through
//! (TCP or Unix socket), the key Pingora's balancer knows it by, and plain
//! connections for TCP health checks.
//!
//! Pingora's Ketama ring takes only IP addresses, so a Unix socket endpoint
//! is known to the balancer by a stand-in IPv6 address derived from its path
//! (in `100::/64`, the discard-only prefix of RFC 6666, where no real
//! endpoint lives). Consistent hashing, health state and selection work on
//! that key; connections always go to the real path.

use crate::config::EndpointAddress;
use pingora::upstreams::peer::HttpPeer;
use pingora::{ErrorType, OrErr, Result};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

/// The address Pingora's balancer and health registry know the endpoint by.
pub(super) fn balancer_key(addr: &EndpointAddress) -> SocketAddr {
    match addr {
        EndpointAddress::Inet(inet) => *inet,
        EndpointAddress::Unix(path) => {
            let digest =
                ring::digest::digest(&ring::digest::SHA256, path.as_os_str().as_encoded_bytes());
            let mut octets = [0u8; 16];
            octets[0] = 0x01; // 0100::/64
            octets[8..].copy_from_slice(&digest.as_ref()[..8]);
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(octets), 0, 0, 0))
        }
    }
}

/// A plaintext peer for the endpoint, before timeouts, protocol and TLS.
pub(super) fn base_peer(addr: &EndpointAddress) -> HttpPeer {
    match addr {
        EndpointAddress::Inet(inet) => HttpPeer::new(*inet, false, String::new()),
        EndpointAddress::Unix(path) => {
            // The path was checked to be absolute and short enough when the
            // config was parsed, so this cannot fail; an inert peer that
            // refuses to connect is the fallback all the same.
            HttpPeer::new_uds(&path.to_string_lossy(), false, String::new()).unwrap_or_else(|e| {
                log::error!("unix socket endpoint {}: {e}", path.display());
                HttpPeer::new(balancer_key(addr), false, String::new())
            })
        }
    }
}

/// Opens a plain connection to the endpoint (a TCP health check).
pub(super) async fn connect(addr: &EndpointAddress) -> Result<()> {
    let result = match addr {
        EndpointAddress::Inet(inet) => tokio::net::TcpStream::connect(inet).await.map(drop),
        EndpointAddress::Unix(path) => tokio::net::UnixStream::connect(path).await.map(drop),
    };
    result.or_err(ErrorType::ConnectRefused, "health check connect")
}

/// The `Host` an HTTP health check sends when none is configured.
pub(super) fn default_host(addr: &EndpointAddress) -> String {
    match addr {
        EndpointAddress::Inet(inet) => inet.to_string(),
        EndpointAddress::Unix(_) => "localhost".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::upstreams::peer::Peer;

    #[test]
    fn unix_endpoints_get_distinct_stable_keys_outside_real_addresses() {
        let a = EndpointAddress::Unix("/run/a.sock".into());
        let b = EndpointAddress::Unix("/run/b.sock".into());
        assert_eq!(balancer_key(&a), balancer_key(&a.clone()));
        assert_ne!(balancer_key(&a), balancer_key(&b));
        let SocketAddr::V6(v6) = balancer_key(&a) else {
            panic!("expected an IPv6 key");
        };
        assert_eq!(v6.ip().segments()[..4], [0x0100, 0, 0, 0]);
        let inet: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(balancer_key(&EndpointAddress::Inet(inet)), inet);
    }

    #[test]
    fn unix_endpoints_get_unix_peers() {
        let peer = base_peer(&EndpointAddress::Unix("/run/a.sock".into()));
        assert!(peer.address().as_unix().is_some());
    }
}
