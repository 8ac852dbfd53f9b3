//! Stage 3, routing (`early_request_filter` matches, `upstream_request_filter`
//! and `response_filter` apply): the route table that picks a route from
//! host, path prefix and method ([`table`], which knows nothing of what a
//! route does), the route's policy bundle that the later stages read
//! ([`policy`]), and the edits a route makes to the request and response:
//! path and query rewrites ([`rewrite`]) and header rules ([`headers`]).
//! Everything here is compiled once per generation.

pub(crate) mod headers;
pub(crate) mod policy;
pub(crate) mod rewrite;
pub(crate) mod table;

pub(crate) use policy::Route;
pub(crate) use table::{HostMatch, RouteMatch, RouteTable};

/// The index of the route for `req` in `routes`, by its host (`Host`, else
/// the URI authority), path and method.
pub(crate) fn find(
    routes: &RouteTable<Route>,
    req: &pingora::http::RequestHeader,
) -> Option<usize> {
    let host = crate::hygiene::request_target::host(req);
    routes.find(host, req.uri.path(), &req.method)
}
