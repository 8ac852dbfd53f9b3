//! Checks for Unix socket endpoints on TLS clusters.
//!
//! TLS over a Unix socket is refused: the socket is local, its file
//! permissions already decide who may connect, and there is no host name to
//! verify a certificate against.

use super::model::ClusterConfig;
use super::values::EndpointAddress;

/// The first problem with a TLS cluster (`path` is its key path): a Unix
/// socket endpoint.
pub(super) fn tls_problem(cluster: &ClusterConfig, path: &str) -> Option<(String, String)> {
    cluster.tls.as_ref()?;
    let pools = [
        ("endpoints", &cluster.endpoints),
        ("backup", &cluster.backup),
    ];
    for (pool, endpoints) in pools {
        for (i, ep) in endpoints.iter().enumerate() {
            if matches!(ep.address, EndpointAddress::Unix(_)) {
                return Some((
                    format!("{path}.{pool}[{i}].address"),
                    format!(
                        "`{}` is a Unix socket and this cluster has `tls`; TLS over Unix sockets is not supported, so use an IP:port endpoint or drop `tls`",
                        ep.address
                    ),
                ));
            }
        }
    }
    None
}
