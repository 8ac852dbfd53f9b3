//! Admission: the request-time check of a route's limits, called from
//! `request_filter` once the route is known.
//!
//! Order (cheapest, and nothing held, first): global GCRA, route GCRA, route
//! window, route in-flight, cluster in-flight. A rate refusal is a 429 with
//! `Retry-After`, `RateLimit-Policy` and `RateLimit`; an in-flight refusal a
//! 503. Both are ordinary responses (the connection stays open, nothing is
//! error-logged). An admitted request's in-flight slots are held by the
//! [`Permits`] in its context until the context is dropped.

use super::compiled::{GcraLimit, RouteLimits};
use super::headers::{rate_limit_headers, window_headers, RateLimitHeaders};
use super::inflight::Permits;
use super::key::KeyInput;
use crate::response::error::ErrorResponse;
use http::header::RETRY_AFTER;
use http::{HeaderName, HeaderValue};
use prometheus::IntCounter;

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Decides one request of a route: `Ok` with its in-flight slots recorded in
/// `permits`, or the response that refuses it.
pub fn admit(
    limits: &RouteLimits,
    input: &KeyInput<'_>,
    permits: &mut Permits,
) -> Result<(), ErrorResponse> {
    if limits.is_empty() {
        return Ok(());
    }
    let mut key = Vec::with_capacity(64);
    for gcra in [&limits.global, &limits.gcra].into_iter().flatten() {
        check_gcra(
            gcra,
            input,
            &mut key,
            limits.metrics.gcra_rejections.as_ref(),
        )?;
    }
    if let Some(window) = &limits.window {
        window.key.write(input, &mut key);
        let decision = window.limiter.check(&key);
        if !decision.allowed {
            count(limits.metrics.window_rejections.as_ref());
            let headers = window_headers(
                &window.name,
                window.limiter.max(),
                window.limiter.per(),
                decision.retry_after,
            );
            return Err(too_many(headers));
        }
    }
    let route = match &limits.route_in_flight {
        Some(l) => Some(
            l.counter
                .try_acquire(l.max)
                .ok_or_else(|| overloaded(limits))?,
        ),
        None => None,
    };
    let cluster = match &limits.cluster_in_flight {
        // A refusal here drops the route slot taken above.
        Some(l) => Some(
            l.counter
                .try_acquire(l.max)
                .ok_or_else(|| overloaded(limits))?,
        ),
        None => None,
    };
    permits.hold(route, cluster, limits.metrics.inflight_requests.clone());
    Ok(())
}

fn check_gcra(
    gcra: &GcraLimit,
    input: &KeyInput<'_>,
    key: &mut Vec<u8>,
    rejections: Option<&IntCounter>,
) -> Result<(), ErrorResponse> {
    gcra.key.write(input, key);
    let decision = gcra.limiter.check(key);
    if decision.allowed {
        return Ok(());
    }
    count(rejections);
    Err(too_many(rate_limit_headers(
        &gcra.name,
        gcra.limiter.policy(),
        &decision,
    )))
}

fn count(counter: Option<&IntCounter>) {
    if let Some(c) = counter {
        c.inc();
    }
}

/// The `error` text of an in-flight refusal.
pub(crate) const OVERLOADED: &str = "too many requests in flight";

fn overloaded(limits: &RouteLimits) -> ErrorResponse {
    count(limits.metrics.inflight_rejections.as_ref());
    ErrorResponse::new(503).reason(OVERLOADED)
}

fn too_many(headers: RateLimitHeaders) -> ErrorResponse {
    let mut response = ErrorResponse::new(429);
    let values = [
        (RETRY_AFTER, headers.retry_after),
        (RATELIMIT_POLICY, Some(headers.policy)),
        (RATELIMIT, Some(headers.ratelimit)),
    ];
    for (name, value) in values {
        // The values are printable ASCII by construction.
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response = response.header(name, v);
        }
    }
    response
}
