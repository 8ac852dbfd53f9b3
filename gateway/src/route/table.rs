//! Route table: host (exact or `*.suffix`), longest path prefix and method
//! matching, compiled once per config.
//!
//! Precedence: an exact host beats a wildcard host (longer suffix first),
//! which beats no host; then the longest `path_prefix`; then a route with a
//! method list beats one without; then config order. Prefixes match on plain
//! string prefixes, as in nginx and Envoy (`/v1` also matches `/v10`).

use crate::observe::metrics::StatusCounters;
use crate::response::page::ErrorPage;
use crate::route::headers::HeaderRules;
use crate::route::rewrite::{PathRewrite, QueryRewrite};
use crate::upstream::Cluster;
use http::Method;
use prometheus::Histogram;
use std::sync::Arc;

/// How a route matches the request host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// Any host.
    Any,
    /// This host exactly (lower case, no port).
    Exact(String),
    /// Any host ending in this suffix (stored with its leading dot).
    Suffix(String),
}

impl HostMatch {
    /// Compiles `api.example.com` / `*.example.com`.
    pub fn new(pattern: Option<&str>) -> Self {
        match pattern {
            None => HostMatch::Any,
            Some(p) => match p.strip_prefix('*') {
                Some(suffix) => HostMatch::Suffix(suffix.to_ascii_lowercase()),
                None => HostMatch::Exact(p.to_ascii_lowercase()),
            },
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            HostMatch::Any => true,
            HostMatch::Exact(h) => h.eq_ignore_ascii_case(host),
            HostMatch::Suffix(s) => {
                host.len() > s.len()
                    && host.is_char_boundary(host.len() - s.len())
                    && host[host.len() - s.len()..].eq_ignore_ascii_case(s)
            }
        }
    }

    /// Higher is more specific.
    fn rank(&self) -> (u8, usize) {
        match self {
            HostMatch::Exact(h) => (2, h.len()),
            HostMatch::Suffix(s) => (1, s.len()),
            HostMatch::Any => (0, 0),
        }
    }
}

/// A compiled route.
pub struct Route {
    /// Name in metrics and logs.
    pub name: String,
    /// Host matcher.
    pub host: HostMatch,
    /// Path prefix (`/` when not configured).
    pub prefix: String,
    /// Allowed methods (all when `None`).
    pub methods: Option<Vec<Method>>,
    /// The cluster serving the route.
    pub cluster: Arc<Cluster>,
    /// Path rewrite.
    pub path_rewrite: PathRewrite,
    /// Query rewrite.
    pub query_rewrite: QueryRewrite,
    /// Edits to the upstream request.
    pub request_headers: HeaderRules,
    /// Edits to the client response.
    pub response_headers: HeaderRules,
    /// Custom error page.
    pub error_page: Option<ErrorPage>,
    /// Client certificate rule, CN header and upstream SNI.
    pub tls: crate::edge::tls::RouteTls,
    /// Position in the config file.
    pub config_index: usize,
    /// `gateway_request_duration_seconds{route}`.
    pub duration: Histogram,
    /// `gateway_requests_total{route,status,protocol}`.
    pub requests: StatusCounters,
    /// `redirect_https`: plaintext requests get 308 to HTTPS.
    pub redirect_https: Option<crate::edge::HttpsRedirect>,
    /// `gateway_grpc_responses_total{route,grpc_status}`.
    pub grpc: crate::protocol::grpc::GrpcCounters,
    /// Response caching (`None`: the route does not cache).
    pub cache: Option<Arc<crate::cache::RouteCache>>,
    /// Client authentication (`None`: the route is open).
    pub auth: Option<Arc<crate::admission::auth::RouteAuth>>,
    /// IP rules, size limits and body rules.
    pub guard: Arc<crate::admission::request_guard::RouteGuard>,
    /// Rate and concurrency limits.
    pub limits: crate::admission::limits::RouteLimits,
    /// Idle timeout of upgraded (WebSocket) connections.
    pub websocket: crate::protocol::websocket::RouteWebSocket,
}

impl Route {
    fn matches(&self, host: &str, path: &str, method: &Method) -> bool {
        self.host.matches(host)
            && path.starts_with(self.prefix.as_str())
            && self.methods.as_ref().is_none_or(|m| m.contains(method))
    }
}

/// All routes, most specific first.
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Orders the routes by precedence.
    pub fn new(mut routes: Vec<Route>) -> Self {
        routes.sort_by(|a, b| {
            b.host
                .rank()
                .cmp(&a.host.rank())
                .then(b.prefix.len().cmp(&a.prefix.len()))
                .then(b.methods.is_some().cmp(&a.methods.is_some()))
                .then(a.config_index.cmp(&b.config_index))
        });
        RouteTable { routes }
    }

    /// Index of the route for a request. `host` may carry a port.
    pub fn find(&self, host: &str, path: &str, method: &Method) -> Option<usize> {
        let host = crate::hygiene::request_target::strip_port(host);
        self.routes
            .iter()
            .position(|r| r.matches(host, path, method))
    }

    /// The route at `index`.
    pub fn get(&self, index: usize) -> &Route {
        &self.routes[index]
    }

    /// All routes in precedence order.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_match_as_documented() {
        let exact = HostMatch::new(Some("API.example.com"));
        assert!(exact.matches("api.example.com"));
        assert!(!exact.matches("x.api.example.com"));
        let wild = HostMatch::new(Some("*.example.com"));
        assert!(wild.matches("a.example.com"));
        assert!(wild.matches("a.b.EXAMPLE.com"));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("badexample.com"));
        assert!(HostMatch::Any.matches("anything"));
    }
}
