//! Stage 3, routing (`early_request_filter` matches, `upstream_request_filter`
//! and `response_filter` apply): the route table that picks a route from
//! host, path prefix and method ([`table`]), the route's policy bundle that
//! the later stages read, and the edits a route makes to the request and
//! response: path and query rewrites ([`rewrite`]) and header rules
//! ([`headers`]). Everything here is compiled once per generation.

pub mod headers;
pub mod rewrite;
pub mod table;

pub use table::{HostMatch, Route, RouteTable};
