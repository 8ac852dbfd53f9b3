//! Stage 4, admission (`early_request_filter` for the client's address and
//! the global IP rules, `request_filter` for the rest): who the client is
//! ([`client`]: socket peer or the forwarded address behind trusted
//! proxies), IP allow/deny over CIDR lists ([`ip_rules`], [`netlist`]),
//! a route's size and body checks ([`request_guard`], [`body_rules`]),
//! authentication ([`auth`]) and traffic limits ([`limits`]); [`admit`]
//! runs a matched route's checks in order. Each check refuses with its own
//! status (401, 403, 413, 429, 431, 503) through `crate::response`.

pub(crate) mod auth;
pub(crate) mod body_rules;
pub(crate) mod client;
pub(crate) mod ip_rules;
pub(crate) mod limits;
pub(crate) mod netlist;
pub(crate) mod request_guard;

use crate::response::error::ErrorResponse;
use pingora::proxy::Session;
use std::net::IpAddr;

/// A matched route's admission policy, as `request_filter` checks it.
pub struct RouteChecks<'a> {
    /// The route's name (a part of limit keys).
    pub route: &'a str,
    /// Client authentication (`None`: the route is open).
    pub auth: Option<&'a auth::RouteAuth>,
    /// Rate and concurrency limits.
    pub limits: &'a limits::RouteLimits,
    /// IP rules, size limits and body rules.
    pub guard: &'a request_guard::RouteGuard,
}

/// `request_filter`'s checks of a matched route, cheapest first: auth
/// (recording the `identity`, which limit keys may use), limits (holding
/// in-flight slots in `permits`; background cache revalidations are not
/// client requests and are not charged), then the body rules (state for
/// `request_body_filter` in `body`). `Ok(Err)` is the refusal to answer.
pub(crate) async fn admit(
    session: &mut Session,
    checks: &RouteChecks<'_>,
    client_ip: Option<IpAddr>,
    identity: &mut Option<String>,
    permits: &mut limits::Permits,
    body: &mut request_guard::BodyGuard,
) -> pingora::Result<Result<(), ErrorResponse>> {
    if let Some(route_auth) = checks.auth {
        match auth::authenticate(session, route_auth).await {
            Ok(id) => *identity = Some(id),
            Err(refusal) => return Ok(Err(refusal)),
        }
    }
    if !crate::cache::is_background(session) {
        let input = limits::KeyInput {
            client_ip,
            identity: identity.as_deref(),
            headers: &session.req_header().headers,
            route: checks.route,
        };
        if let Err(refusal) = limits::check::admit(checks.limits, &input, permits) {
            return Ok(Err(refusal));
        }
    }
    let refused = request_guard::inspect_body(session, checks.guard, body).await?;
    Ok(refused.map_or(Ok(()), |status| Err(ErrorResponse::new(status))))
}
