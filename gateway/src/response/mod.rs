//! Responses the gateway writes itself, from `request_filter` (refusals)
//! and `fail_to_proxy` (upstream failures): the one builder
//! ([`error`]: status, extra headers, JSON or gRPC form, connection reuse)
//! and a route's templated error pages ([`page`]).

pub mod error;
pub mod page;
