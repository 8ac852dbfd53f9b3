//! Responses the gateway writes itself, from `request_filter` (refusals)
//! and `fail_to_proxy` (upstream failures): the one builder
//! ([`error`]: status, extra headers, JSON or gRPC form, connection reuse),
//! a route's templated error pages ([`page`]), and the answer to a failed
//! proxy attempt ([`failure`]: the status for an error, ending a response
//! already under way).

pub(crate) mod error;
pub(crate) mod failure;
pub mod page;

pub(crate) use failure::{end_started, internal, status_for};
