//! Stage 1, the edge: the client connection before and between HTTP
//! requests, ahead of every proxy phase. Listeners and the PROXY protocol
//! header of listeners behind a load balancer ([`proxy_protocol`]), TLS
//! termination with certificates by SNI and client certificates
//! ([`tls`]), the HTTP/1.x keep-alive loop that holds only the stream
//! between requests ([`keepalive`]) and its request-header deadline
//! ([`header_timeout`]), the count of open client connections
//! ([`ClientConnections`]), the listener lookup by local address
//! ([`listener_match`]) and, called from `request_filter`, the redirect of
//! plaintext requests to HTTPS ([`HttpsRedirect`]).

mod connections;
pub mod header_timeout;
pub mod keepalive;
pub mod listener_match;
mod metrics;
pub mod proxy_protocol;
mod redirect;
pub mod tls;

pub use connections::{ClientConnections, EdgeListeners};
pub use metrics::EDGE_METRICS;
pub use redirect::{redirect_https, HttpsRedirect};
