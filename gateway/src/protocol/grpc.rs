//! gRPC requests (`application/grpc*`): the status each call ends with and
//! `gateway_grpc_responses_total{route,grpc_status}`.
//!
//! A call's status comes from the upstream (`grpc-status` in the trailers,
//! or in the headers of a trailers-only answer) or from the gateway's own
//! error (`error_response`'s gRPC form). When a proxied call fails after its
//! response header reached the client, the gateway ends the h2 stream with
//! trailers carrying the error's status instead of resetting it
//! (`crate::response::end_started`), so the client sees UNAVAILABLE or
//! DEADLINE_EXCEEDED rather than a broken stream.

use crate::response::error::{grpc_status, ErrorForm};
use http::HeaderMap;
use pingora::http::{RequestHeader, ResponseHeader};
use prometheus::{register_int_counter_vec, IntCounter, IntCounterVec};
use std::sync::{LazyLock, OnceLock};

/// The gRPC status codes, 0 (OK) to 16 (UNAUTHENTICATED).
const STATUS_CODES: usize = 17;

/// UNKNOWN: what a client makes of a status outside 0..=16 or unreadable.
const UNKNOWN: u8 = 2;

/// Handles for calls that matched no route.
static UNROUTED: LazyLock<GrpcCounters> = LazyLock::new(|| GrpcCounters::new("none"));

static GRPC_RESPONSES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "gateway_grpc_responses_total",
        "gRPC calls answered, by route and the grpc-status the client got.",
        &["route", "grpc_status"]
    )
    .expect("metric registration")
});

/// `gateway_grpc_responses_total` handles of one route, resolved on first
/// use per status (so routes without gRPC traffic export no series).
pub struct GrpcCounters {
    route: String,
    slots: [OnceLock<IntCounter>; STATUS_CODES],
}

impl GrpcCounters {
    /// Handles for `route`.
    pub fn new(route: &str) -> Self {
        GrpcCounters {
            route: route.to_string(),
            slots: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The counter for `status` (0..=16; anything else counts as UNKNOWN).
    pub fn get(&self, status: u8) -> &IntCounter {
        let status = if usize::from(status) < STATUS_CODES {
            status
        } else {
            UNKNOWN
        };
        self.slots[usize::from(status)].get_or_init(|| {
            let label = status.to_string();
            GRPC_RESPONSES.with_label_values(&[self.route.as_str(), label.as_str()])
        })
    }
}

/// What the gateway knows about one request as a gRPC call.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct GrpcCall {
    grpc: bool,
    status: Option<u8>,
}

impl GrpcCall {
    /// A gRPC call when the request's content type is `application/grpc*`.
    pub(crate) fn of(req: &RequestHeader) -> Self {
        GrpcCall {
            grpc: ErrorForm::of(req) == ErrorForm::Grpc,
            status: None,
        }
    }

    /// Whether the request is a gRPC call.
    #[cfg(test)]
    pub(crate) fn is_grpc(&self) -> bool {
        self.grpc
    }

    /// The status the call ended with, once known.
    #[cfg(test)]
    pub(crate) fn status(&self) -> Option<u8> {
        self.status
    }

    /// Whether this is a gRPC call still without a status (one the gateway
    /// may end with its own error in trailers).
    pub(crate) fn is_open(&self) -> bool {
        self.grpc && self.status.is_none()
    }

    /// The upstream's response header: a trailers-only answer carries the
    /// status here.
    pub(crate) fn on_response_header(&mut self, resp: &ResponseHeader) {
        if self.grpc {
            if let Some(status) = parse_status(&resp.headers) {
                self.status = Some(status);
            }
        }
    }

    /// The upstream's trailers.
    pub(crate) fn on_trailers(&mut self, trailers: &HeaderMap) {
        if self.grpc {
            if let Some(status) = parse_status(trailers) {
                self.status = Some(status);
            }
        }
    }

    /// The gateway answered with its own error of HTTP status `http`
    /// (written in the gRPC form for gRPC calls).
    pub(crate) fn on_gateway_error(&mut self, http: u16) {
        if self.grpc {
            self.status = Some(grpc_status(http));
        }
    }

    /// Counts the call under its status in its route's `counters` (`None`:
    /// no route matched); calls that ended without one (stream reset,
    /// client gone) are not counted here.
    pub(crate) fn record(&self, counters: Option<&GrpcCounters>) {
        if let (true, Some(status)) = (self.grpc, self.status) {
            counters.unwrap_or(&UNROUTED).get(status).inc();
        }
    }
}

/// `grpc-status` as a code; UNKNOWN when present but not a number.
fn parse_status(headers: &HeaderMap) -> Option<u8> {
    let value = headers.get("grpc-status")?;
    Some(
        std::str::from_utf8(value.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse::<u8>().ok())
            .unwrap_or(UNKNOWN),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grpc_request() -> RequestHeader {
        let mut req = RequestHeader::build("POST", b"/svc/M", None).unwrap();
        req.insert_header("content-type", "application/grpc")
            .unwrap();
        req
    }

    #[test]
    fn status_comes_from_trailers_headers_or_the_gateway() {
        let mut call = GrpcCall::of(&grpc_request());
        assert!(call.is_grpc());
        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.insert_header("content-type", "application/grpc")
            .unwrap();
        call.on_response_header(&resp);
        assert_eq!(call.status(), None, "no status in a normal header");
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "9".parse().unwrap());
        call.on_trailers(&trailers);
        assert_eq!(call.status(), Some(9));
        call.on_gateway_error(504);
        assert_eq!(call.status(), Some(4));
    }

    #[test]
    fn unreadable_or_out_of_range_statuses_count_as_unknown() {
        let mut call = GrpcCall::of(&grpc_request());
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "ok".parse().unwrap());
        call.on_trailers(&trailers);
        assert_eq!(call.status(), Some(UNKNOWN));
        let counters = GrpcCounters::new("unit-grpc-route");
        let before = counters.get(UNKNOWN).get();
        counters.get(200).inc();
        assert_eq!(counters.get(UNKNOWN).get(), before + 1);
    }

    #[test]
    fn other_requests_are_not_grpc_calls() {
        let req = RequestHeader::build("GET", b"/", None).unwrap();
        let mut call = GrpcCall::of(&req);
        call.on_gateway_error(502);
        assert!(!call.is_grpc());
        assert_eq!(call.status(), None);
    }
}
