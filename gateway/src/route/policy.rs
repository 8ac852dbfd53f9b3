//! A route's compiled policy: everything the stages after matching read
//! for a request on the route. [`RouteTable`](super::RouteTable) selects
//! one of these; the bundle is built once per generation.

use crate::observe::RouteMetrics;
use crate::response::page::ErrorPage;
use crate::route::headers::HeaderRules;
use crate::route::rewrite::RouteRewrite;
use crate::upstream::Cluster;
use pingora::http::RequestHeader;
use std::sync::Arc;

/// A compiled route.
pub struct Route {
    /// Name in metrics and logs.
    pub name: String,
    /// The cluster serving the route.
    pub cluster: Arc<Cluster>,
    /// Path and query rewrites (with the matched prefix they replace).
    pub rewrite: RouteRewrite,
    /// Edits to the upstream request.
    pub request_headers: HeaderRules,
    /// Edits to the client response.
    pub response_headers: HeaderRules,
    /// Custom error page.
    pub error_page: Option<ErrorPage>,
    /// Client certificate rule, CN header and upstream SNI.
    pub tls: crate::edge::tls::RouteTls,
    /// `gateway_requests_total` and `gateway_request_duration_seconds`.
    pub metrics: RouteMetrics,
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
    /// `upstream_request_filter`: the route's edits to the upstream
    /// request, in order: path and query rewrites, header rules, the client
    /// certificate's CN header (`cert`), the authenticated `identity`.
    pub fn edit_upstream_request(
        &self,
        req: &mut RequestHeader,
        cert: Option<&crate::edge::tls::ClientIdentity>,
        identity: Option<&str>,
    ) -> pingora::Result<()> {
        if let Some(uri) = self.rewrite.apply(&req.uri)? {
            req.set_uri(uri);
        }
        self.request_headers.apply(req);
        self.tls.forward_cn(req, cert)?;
        crate::admission::auth::to_upstream(self.auth.as_deref(), identity, req)
    }

    /// The route's admission checks (`request_filter`).
    pub fn checks(&self) -> crate::admission::RouteChecks<'_> {
        crate::admission::RouteChecks {
            route: &self.name,
            auth: self.auth.as_deref(),
            limits: &self.limits,
            guard: &self.guard,
        }
    }
}
