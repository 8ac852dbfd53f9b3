//! What the gateway reports about itself: the Prometheus registry and its
//! pre-resolved handles ([`metrics`], used by every stage), the access log
//! ([`access_log`]) and the end of each request in both
//! ([`request_log`], called once from `logging`).

pub(crate) mod access_log;
pub(crate) mod metrics;
pub(crate) mod request_log;

pub(crate) use request_log::{log_request, FinishedRequest, RouteMetrics, Started};
