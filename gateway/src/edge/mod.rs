//! Stage 1, the edge: the client connection before and between HTTP
//! requests, ahead of every proxy phase. Listeners and the PROXY protocol
//! header of listeners behind a load balancer ([`proxy_protocol`]), TLS
//! termination with certificates by SNI and client certificates
//! ([`tls`]), the HTTP/1.x keep-alive loop that holds only the stream
//! between requests ([`keepalive`]) and its request-header deadline
//! ([`header_timeout`]), the count of open client connections
//! ([`ClientConnections`]) and of connections and requests the process is
//! serving ([`activity`]), the listener lookup by local address
//! ([`listener_match`]) and, called from `request_filter`, the redirect of
//! plaintext requests to HTTPS ([`HttpsRedirect`]).

pub(crate) mod activity;
mod connections;
pub(crate) mod header_timeout;
pub(crate) mod keepalive;
pub(crate) mod listener_match;
mod metrics;
pub(crate) mod proxy_protocol;
mod redirect;
pub(crate) mod tls;

/// What the edge reads from the live config at each new connection. The
/// control plane's state implements it, so the edge never depends on the
/// control plane.
pub(crate) trait EdgeSettings: Send + Sync + 'static {
    /// The current request-header deadline, which also bounds the TLS
    /// handshake and the PROXY protocol header.
    fn read_header_timeout(&self) -> std::time::Duration;
    /// The current HTTPS listener settings (certificates, client auth) and
    /// the deadline, from one generation, so a handshake never pairs one
    /// generation's certificates with another's deadline.
    fn handshake(&self) -> (std::sync::Arc<tls::DownstreamTls>, std::time::Duration);
}

pub(crate) use connections::{ClientConnections, EdgeListeners};
pub(crate) use redirect::{redirect_https, HttpsRedirect};
