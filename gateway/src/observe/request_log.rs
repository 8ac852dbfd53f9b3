//! The end of one request, recorded once from `logging`: the status it is
//! counted under, `gateway_requests_total` and
//! `gateway_request_duration_seconds`, and the access-log line.
//!
//! Callers pass plain values (names, labels, counts), so this layer knows
//! nothing of routes or clusters.

use crate::observe::access_log::{AccessLog, AccessRecord};
use crate::observe::metrics::{Protocol, StatusCounters, METRICS};
use pingora::http::RequestHeader;
use pingora::{Error, ErrorSource};
use prometheus::Histogram;
use std::sync::LazyLock;
use std::time::{Instant, SystemTime};

/// Status recorded for a request whose client left before any response.
pub(crate) const CLIENT_CLOSED: u16 = 499;

/// `gateway_requests_total` handles for requests that matched no route.
static UNROUTED: LazyLock<StatusCounters> = LazyLock::new(|| StatusCounters::new("none"));

/// When a request started: the moment its per-request state was created
/// (the default value reads the clock).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started(pub Instant);

impl Default for Started {
    fn default() -> Self {
        Started(Instant::now())
    }
}

/// A route's request metric handles, resolved when the route is compiled.
pub struct RouteMetrics {
    /// `gateway_requests_total{route,status,protocol}`.
    pub requests: StatusCounters,
    /// `gateway_request_duration_seconds{route}`.
    pub duration: Histogram,
}

impl RouteMetrics {
    /// Handles for the route named `route`.
    pub fn new(route: &str) -> Self {
        RouteMetrics {
            requests: StatusCounters::new(route),
            duration: METRICS.request_duration.with_label_values(&[route]),
        }
    }
}

/// What `logging` knows about a finished request.
pub(crate) struct FinishedRequest<'a> {
    /// The client's request.
    pub req: &'a RequestHeader,
    /// Status of the response header sent to the client, if one was.
    pub response: Option<u16>,
    /// The error that ended the request, if any.
    pub error: Option<&'a Error>,
    /// How the client spoke.
    pub protocol: Protocol,
    /// The matched route's handles (`None`: no route matched).
    pub metrics: Option<&'a RouteMetrics>,
    /// Route name (`none` when unrouted).
    pub route: &'a str,
    /// Cluster name (`-` when unrouted).
    pub cluster: &'a str,
    /// Label of the last endpoint attempted (`-` when none).
    pub endpoint: &'a str,
    /// Upstream attempts made.
    pub attempts: usize,
    /// When the request started.
    pub started: Instant,
    /// The request id.
    pub request_id: &'a str,
}

/// The status a request is counted and logged under: the one sent, 499
/// (as in nginx) when the client went away before any response, else 0.
pub(crate) fn logged_status(response: Option<u16>, error: Option<&Error>) -> u16 {
    match (response, error) {
        (Some(status), _) => status,
        (None, Some(e)) if *e.esource() == ErrorSource::Downstream => CLIENT_CLOSED,
        (None, _) => 0,
    }
}

/// Counts the request in the route's (or the unrouted) metrics and writes
/// its access-log line when the log is on.
pub(crate) fn log_request(access_log: &AccessLog, done: &FinishedRequest<'_>) {
    let status = logged_status(done.response, done.error);
    let elapsed = done.started.elapsed();
    match done.metrics {
        Some(metrics) => {
            metrics.requests.inc(status, done.protocol);
            metrics.duration.observe(elapsed.as_secs_f64());
        }
        None => UNROUTED.inc(status, done.protocol),
    }
    if access_log.enabled() {
        access_log.log(&AccessRecord {
            time: SystemTime::now(),
            method: done.req.method.as_str(),
            path: done.req.uri.path(),
            status,
            route: done.route,
            cluster: done.cluster,
            endpoint: done.endpoint,
            attempts: done.attempts,
            duration: elapsed,
            request_id: done.request_id,
            error: done.error.map(|e| e as &dyn std::fmt::Display),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::ErrorType;

    #[test]
    fn the_sent_status_wins_and_a_client_gone_first_is_499() {
        let down = Error::explain(ErrorType::ConnectionClosed, "gone").into_down();
        let up = Error::explain(ErrorType::ConnectRefused, "refused").into_up();
        assert_eq!(logged_status(Some(502), Some(&down)), 502);
        assert_eq!(logged_status(None, Some(&down)), CLIENT_CLOSED);
        assert_eq!(logged_status(None, Some(&up)), 0);
        assert_eq!(logged_status(None, None), 0);
    }
}
