//! The client side of a connection before HTTP: the PROXY protocol header
//! of listeners behind a load balancer ([`proxy_protocol`]), the count of
//! open client connections ([`ClientConnections`]), and the redirect of
//! plaintext requests to HTTPS ([`HttpsRedirect`]).

mod connections;
mod metrics;
pub mod proxy_protocol;
mod redirect;

pub use connections::{ClientConnections, EdgeListeners};
pub use metrics::EDGE_METRICS;
pub use redirect::{redirect_https, HttpsRedirect};
