//! The one `ProxyHttp` implementation. Each phase delegates to the module
//! that owns the concern; this file only orchestrates.

use crate::control::generation::Generation;
use crate::control::state::GatewayState;
use crate::hygiene::normalize::normalize_path;
use crate::hygiene::request_id::{self, X_REQUEST_ID};
use crate::hygiene::request_target;
use crate::observe::access_log::AccessRecord;
use crate::observe::metrics::StatusCounters;
use crate::response::error::ErrorResponse;
use crate::upstream::{
    find_cookie, Cluster, EndpointRef, Failure, RetryDecision, RetryInput, Tried,
};
use async_trait::async_trait;
use http::header::{COOKIE, SET_COOKIE};
use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::Digest;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};
use std::time::{Instant, SystemTime};

/// Scheduler turns given to an h2 connection to flush a stream's frames
/// before the stream is reset.
const H2_FLUSH_YIELDS: usize = 4;

/// Status recorded for a request whose client left before any response.
const CLIENT_CLOSED: u16 = 499;

/// `gateway_requests_total` handles for requests that matched no route.
static UNROUTED: LazyLock<StatusCounters> = LazyLock::new(|| StatusCounters::new("none"));

/// `gateway_grpc_responses_total` handles for calls that matched no route.
static UNROUTED_GRPC: LazyLock<crate::protocol::grpc::GrpcCounters> =
    LazyLock::new(|| crate::protocol::grpc::GrpcCounters::new("none"));

/// The gateway proxy.
pub struct GatewayProxy {
    state: Arc<GatewayState>,
}

impl GatewayProxy {
    /// A proxy over the gateway's live state.
    pub fn new(state: Arc<GatewayState>) -> Self {
        Self { state }
    }
}

/// Per-request state carried between phases.
pub struct RequestCtx {
    started: Instant,
    generation: Option<Arc<Generation>>,
    route: Option<usize>,
    /// A status decided before routing (bad path, size limit): answered by
    /// `request_filter` without proxying.
    rejection: Option<u16>,
    request_id: request_id::RequestId,
    endpoint: Option<EndpointRef>,
    /// Endpoints already attempted.
    tried: Tried,
    attempts: usize,
    /// The last attempt got a response whose status the policy retries.
    status_retry: bool,
    /// The next attempt replaces a stale pooled connection (not a retry).
    reconnecting: bool,
    counted_failover: bool,
    /// Set-Cookie to pin this client to the chosen endpoint.
    pin_cookie: Option<HeaderValue>,
    /// What the response cache did for this request.
    cache: crate::cache::CacheState,
    /// The client's address (set in `early_request_filter`): the socket
    /// peer, or behind trusted proxies the forwarded client (`crate::admission::client`).
    pub client_ip: Option<IpAddr>,
    /// The client connection: peer, whether it is a trusted proxy, TLS.
    client: crate::admission::client::ClientConn,
    /// Body size and body-rule state, from `request_filter` on.
    body: crate::admission::request_guard::BodyGuard,
    /// The authenticated identity (api key name, user, token subject), once
    /// a route's auth accepted the request.
    pub identity: Option<String>,
    /// The client certificate's names (HTTPS listeners with `client_auth`).
    pub client_cert: Option<Arc<crate::edge::tls::ClientIdentity>>,
    /// In-flight slots held until the request ends (released on drop).
    permits: crate::admission::limits::Permits,
    /// Counts an upgraded WebSocket as open until the request ends.
    websocket: Option<crate::protocol::websocket::OpenWebSocket>,
    /// Whether this is a gRPC call, and the status it ended with.
    grpc: crate::protocol::grpc::GrpcCall,
}

impl RequestCtx {
    fn route_and_cluster(&self) -> Option<(&crate::route::Route, &Arc<Cluster>)> {
        let route = self.generation.as_ref()?.routes.get(self.route?);
        Some((route, &route.cluster))
    }

    fn route_cache(&self) -> Option<&Arc<crate::cache::RouteCache>> {
        self.route_and_cluster()?.0.cache.as_ref()
    }

    /// Charges the route's limits (see `limits::admission`); background
    /// cache revalidations are not client requests and are not charged.
    fn admit(&mut self, session: &Session) -> Result<(), ErrorResponse> {
        let (Some(generation), Some(index)) = (&self.generation, self.route) else {
            return Ok(());
        };
        if crate::cache::is_background(session) {
            return Ok(());
        }
        let route = generation.routes.get(index);
        let input = crate::admission::limits::KeyInput {
            client_ip: self.client_ip,
            identity: self.identity.as_deref(),
            headers: &session.req_header().headers,
            route: &route.name,
        };
        crate::admission::limits::admission::admit(&route.limits, &input, &mut self.permits)
    }

    fn route_name(&self) -> &str {
        self.route_and_cluster()
            .map_or("none", |(r, _)| r.name.as_str())
    }
}

/// Writes a gateway-generated error response in the request's form (JSON,
/// the route's error page, or gRPC).
async fn respond_error(
    session: &mut Session,
    ctx: &mut RequestCtx,
    response: ErrorResponse,
) -> Result<()> {
    ctx.grpc.on_gateway_error(response.status());
    let page = ctx
        .route_and_cluster()
        .and_then(|(r, _)| r.error_page.as_ref());
    response.write(session, page, &ctx.request_id).await
}

/// Runs the matched route's auth, if any, and records the identity.
async fn authenticate(session: &mut Session, ctx: &mut RequestCtx) -> Result<(), ErrorResponse> {
    let Some(auth) = ctx.route_and_cluster().and_then(|(r, _)| r.auth.clone()) else {
        return Ok(());
    };
    ctx.identity = Some(crate::admission::auth::authenticate(session, &auth).await?);
    Ok(())
}

/// Status the client gets for a proxy error.
fn error_status(e: &Error) -> u16 {
    match e.etype() {
        ErrorType::HTTPStatus(code) => *code,
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => 504,
        _ => match e.esource() {
            ErrorSource::Upstream => 502,
            ErrorSource::Downstream => match e.etype() {
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                _ => 400,
            },
            ErrorSource::Internal | ErrorSource::Unset => 500,
        },
    }
}

/// Whether the request can be sent again: idempotent, with its whole body
/// still in the retry buffer.
fn replayable(session: &Session) -> bool {
    session.req_header().method.is_idempotent() && !session.as_ref().retry_buffer_truncated()
}

fn hash_key<'a>(
    cluster: &Cluster,
    session: &'a Session,
    client_ip: Option<IpAddr>,
    ip_buf: &'a mut [u8; 16],
) -> &'a [u8] {
    use crate::config::HashKey;
    let req = session.req_header();
    match &cluster.hash_key {
        None => b"",
        Some(HashKey::Path) => req.uri.path().as_bytes(),
        Some(HashKey::Header(name)) => req.headers.get(name.as_str()).map_or(b"", |v| v.as_bytes()),
        Some(HashKey::Cookie(name)) => {
            find_cookie(req.headers.get_all(COOKIE).iter(), name).map_or(b"", |v| v.as_bytes())
        }
        Some(HashKey::ClientIp) => match client_ip {
            Some(IpAddr::V4(v4)) => {
                ip_buf[..4].copy_from_slice(&v4.octets());
                &ip_buf[..4]
            }
            Some(IpAddr::V6(v6)) => {
                *ip_buf = v6.octets();
                &ip_buf[..]
            }
            None => b"",
        },
    }
}

#[async_trait]
impl ProxyHttp for GatewayProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
            generation: None,
            route: None,
            rejection: None,
            request_id: request_id::RequestId::default(),
            endpoint: None,
            tried: Tried::default(),
            attempts: 0,
            status_retry: false,
            reconnecting: false,
            counted_failover: false,
            pin_cookie: None,
            cache: crate::cache::CacheState::default(),
            client_ip: None,
            client: crate::admission::client::ClientConn::default(),
            body: crate::admission::request_guard::BodyGuard::default(),
            identity: None,
            client_cert: None,
            permits: crate::admission::limits::Permits::default(),
            websocket: None,
            grpc: crate::protocol::grpc::GrpcCall::default(),
        }
    }

    /// Request setup, before anything else looks at the request: generation,
    /// request id, connection settings, size limits, request-target rules
    /// (Host, absolute-form, Content-Length), path normalisation
    /// (the upstream, rewrites and later phases all see the canonical
    /// path) and route matching.
    async fn early_request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let generation = self.state.current();
        let downstream = &generation.downstream;
        downstream.apply_to_session(session);
        ctx.request_id = request_id::for_request(session.req_header());
        ctx.grpc = crate::protocol::grpc::GrpcCall::of(session.req_header());
        ctx.client = crate::admission::client::ClientConn::of(session, &generation.client);
        ctx.client_ip = (ctx.client).client_ip(
            &session.req_header().headers,
            &generation.client.trusted_proxies,
        );
        ctx.client_cert = crate::edge::tls::client_identity(session);
        if !generation.client.admits(ctx.client_ip) {
            ctx.rejection = Some(403);
        } else if let Err(exceeded) = downstream.check_limits(session.req_header()) {
            ctx.rejection = Some(exceeded.status());
        } else if let Err(status) = request_target::canonicalize(session.req_header_mut()) {
            ctx.rejection = Some(status);
        } else {
            match normalize_path(session.req_header().uri.path(), &downstream.path) {
                Ok(std::borrow::Cow::Borrowed(_)) => {}
                Ok(std::borrow::Cow::Owned(path)) => {
                    let req = session.req_header_mut();
                    let uri = crate::route::rewrite::with_path_and_query(
                        &req.uri,
                        &path,
                        req.uri.query(),
                    )?;
                    req.set_uri(uri);
                }
                Err(rejection) => {
                    log::debug!("request refused: {rejection}");
                    ctx.rejection = Some(400);
                }
            }
        }
        if ctx.rejection.is_none() {
            let req = session.req_header();
            ctx.route = generation.routes.find(
                crate::hygiene::request_target::host(req),
                req.uri.path(),
                &req.method,
            );
            if let Some(route) = ctx.route.map(|i| generation.routes.get(i)) {
                ctx.rejection = route.guard.check_head(ctx.client_ip, req).err();
            }
        }
        ctx.generation = Some(generation);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let redirect = ctx
            .route_and_cluster()
            .and_then(|(r, _)| r.redirect_https.as_ref());
        let redirect = redirect.filter(|_| ctx.rejection.is_none());
        if crate::edge::redirect_https(session, redirect, ctx.client.tls).await? {
            return Ok(true);
        }
        let client_cert = ctx.client_cert.as_deref();
        let cert_refusal = ctx
            .route_and_cluster()
            .and_then(|(route, _)| route.tls.refusal(client_cert));
        let refused = match (ctx.rejection, ctx.route, cert_refusal) {
            (Some(status), _, _) => ErrorResponse::new(status),
            (None, None, _) => ErrorResponse::new(404),
            (None, Some(_), Some(status)) => ErrorResponse::new(status),
            (None, Some(_), None) => {
                // Cheapest first; auth before limits, whose keys may use
                // the identity; body inspection last.
                if let Err(refusal) = authenticate(session, ctx).await {
                    respond_error(session, ctx, refusal).await?;
                    return Ok(true);
                }
                if let Err(refusal) = ctx.admit(session) {
                    respond_error(session, ctx, refusal).await?;
                    return Ok(true);
                }
                let guard = ctx.route_and_cluster().map(|(r, _)| r.guard.clone());
                let refused = match guard {
                    Some(guard) => {
                        crate::admission::request_guard::inspect_body(
                            session,
                            &guard,
                            &mut ctx.body,
                        )
                        .await?
                    }
                    None => None,
                };
                if let Some(status) = refused {
                    respond_error(session, ctx, ErrorResponse::new(status)).await?;
                    return Ok(true);
                }
                let route_cache = ctx.route_cache().cloned();
                let client = ctx.client_ip;
                return crate::cache::purge::answer_purge_method(
                    session,
                    route_cache.as_deref(),
                    client,
                )
                .await;
            }
        };
        // Answered before proxying: the connection stays usable.
        respond_error(session, ctx, refused).await?;
        Ok(true)
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let Some((_, cluster)) = ctx.route_and_cluster() else {
            return Error::e_explain(ErrorType::InternalError, "no route selected");
        };
        let cluster = cluster.clone();
        // A fresh connection replacing a stale pooled one goes to the same
        // endpoint (and keeps the client's pin) while it is available.
        let reconnect_to = ctx
            .endpoint
            .filter(|r| ctx.reconnecting && cluster.pool(r.backup).is_available(r.index));
        let choice = match reconnect_to {
            Some(r) => r,
            None => {
                let pinned = match (&cluster.sticky, ctx.attempts) {
                    (Some(sticky), 0) => find_cookie(
                        session.req_header().headers.get_all(COOKIE).iter(),
                        &sticky.cookie,
                    ),
                    _ => None,
                };
                let mut ip_buf = [0u8; 16];
                let key = hash_key(&cluster, session, ctx.client_ip, &mut ip_buf);
                let Some(choice) = cluster.choose(key, pinned, &ctx.tried) else {
                    let status = if ctx.tried.is_empty() { 503 } else { 502 };
                    return Error::e_explain(
                        ErrorType::HTTPStatus(status),
                        format!("cluster {}: no available endpoint", cluster.name),
                    );
                };
                if let Some(sticky) = &cluster.sticky {
                    let id = cluster.endpoint(choice).sticky_id.as_str();
                    if pinned != Some(id) {
                        ctx.pin_cookie = sticky.set_cookie(id);
                    }
                }
                choice
            }
        };
        let endpoint = cluster.endpoint(choice);
        if choice.backup && !ctx.counted_failover {
            ctx.counted_failover = true;
            cluster.metrics().failover.inc();
        }
        if ctx.reconnecting {
            ctx.reconnecting = false;
        } else {
            ctx.attempts += 1;
            if ctx.attempts > 1 {
                cluster.metrics().retries.inc();
            }
        }
        ctx.status_retry = false;
        ctx.endpoint = Some(choice);
        ctx.tried.insert(choice);
        let mut peer = Box::new(endpoint.peer.clone());
        if let Some((route, _)) = ctx.route_and_cluster() {
            route.tls.apply_sni(&mut peer, session.req_header())?;
            route.websocket.prepare_peer(session, &mut peer);
        }
        Ok(peer)
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some((route, _)) = ctx.route_and_cluster() else {
            return Ok(());
        };
        ctx.client.forward_headers(upstream_request)?;
        upstream_request.insert_header(X_REQUEST_ID, ctx.request_id.header_value())?;
        if route.path_rewrite != crate::route::rewrite::PathRewrite::None
            || !route.query_rewrite.is_empty()
        {
            let uri = &upstream_request.uri;
            let path = route.path_rewrite.apply(uri.path(), &route.prefix).map_or(
                std::borrow::Cow::Borrowed(uri.path()),
                std::borrow::Cow::Owned,
            );
            let query = if route.query_rewrite.is_empty() {
                uri.query().map(std::borrow::Cow::Borrowed)
            } else {
                route
                    .query_rewrite
                    .apply(uri.query())
                    .map(std::borrow::Cow::Owned)
            };
            let new_uri = crate::route::rewrite::with_path_and_query(uri, &path, query.as_deref())?;
            upstream_request.set_uri(new_uri);
        }
        route.request_headers.apply(upstream_request);
        route
            .tls
            .forward_cn(upstream_request, ctx.client_cert.as_deref())?;
        crate::admission::auth::to_upstream(
            route.auth.as_deref(),
            ctx.identity.as_deref(),
            upstream_request,
        )
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        crate::admission::request_guard::filter_body(
            &mut ctx.body,
            ctx.attempts,
            body,
            end_of_stream,
        )
    }

    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        reused: bool,
        _peer: &HttpPeer,
        #[cfg(unix)] _fd: std::os::unix::io::RawFd,
        #[cfg(windows)] _sock: std::os::windows::io::RawSocket,
        _digest: Option<&Digest>,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let (Some((_, cluster)), Some(r)) = (ctx.route_and_cluster(), ctx.endpoint) {
            let counter = if reused {
                &cluster.metrics().connections_reused
            } else {
                &cluster.metrics().connections_new
            };
            counter.inc();
            cluster.endpoint(r).passive.on_connect_success();
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let status = upstream_response.status.as_u16();
        let Some((_, cluster)) = ctx.route_and_cluster() else {
            return Ok(());
        };
        if !cluster.retry.retries_status(status) {
            return Ok(());
        }
        let input = RetryInput {
            failure: Failure::Status(status),
            replayable: replayable(session),
            response_started: session.response_written().is_some(),
            attempts_made: ctx.attempts,
            candidate_left: cluster.has_candidate(&ctx.tried),
        };
        if cluster.retry.decide(&input) == RetryDecision::Retry {
            if let Some(r) = ctx.endpoint {
                cluster.endpoint(r).attempts().retryable_status.inc();
            }
            ctx.status_retry = true;
            let mut e = Error::explain(ErrorType::HTTPStatus(status), "retryable upstream status");
            e.set_retry(true);
            return Err(e.into_up());
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some((route, _)) = ctx.route_and_cluster() {
            route.response_headers.apply(upstream_response);
            ctx.websocket = route.websocket.on_response(session, upstream_response);
        }
        ctx.grpc.on_response_header(upstream_response);
        if let Some(cookie) = ctx.pin_cookie.take() {
            upstream_response.append_header(SET_COOKIE, cookie)?;
        }
        if !upstream_response.headers.contains_key(X_REQUEST_ID) {
            upstream_response.insert_header(X_REQUEST_ID, ctx.request_id.header_value())?;
        }
        if ctx.route_cache().is_some() {
            crate::cache::response_headers(session, &ctx.cache, upstream_response);
        }
        Ok(())
    }

    async fn response_trailer_filter(
        &self,
        _session: &mut Session,
        upstream_trailers: &mut http::HeaderMap,
        ctx: &mut RequestCtx,
    ) -> Result<Option<bytes::Bytes>> {
        ctx.grpc.on_trailers(upstream_trailers);
        Ok(None)
    }

    fn request_cache_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
        if let Some(route_cache) = ctx.route_cache().cloned() {
            crate::cache::enable(session, &route_cache, &mut ctx.cache);
        }
        Ok(())
    }

    fn cache_key_callback(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
    ) -> Result<pingora::cache::CacheKey> {
        match ctx.route_cache() {
            Some(route_cache) => {
                crate::cache::cache_key(session, route_cache, ctx.identity.as_deref())
            }
            None => Error::e_explain(
                ErrorType::InternalError,
                "cache key without a caching route",
            ),
        }
    }

    fn cache_miss(&self, session: &mut Session, ctx: &mut RequestCtx) {
        crate::cache::on_miss(session, &mut ctx.cache);
    }

    async fn cache_hit_filter(
        &self,
        session: &mut Session,
        meta: &pingora::cache::CacheMeta,
        _hit_handler: &mut pingora::cache::HitHandler,
        is_fresh: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<pingora::cache::ForcedFreshness>> {
        Ok(crate::cache::on_hit(
            session,
            meta,
            is_fresh,
            &mut ctx.cache,
        ))
    }

    fn response_cache_filter(
        &self,
        session: &Session,
        resp: &ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<pingora::cache::RespCacheable> {
        Ok(match ctx.route_cache() {
            Some(route_cache) => crate::cache::cacheable(session, route_cache, resp),
            None => pingora::cache::RespCacheable::Uncacheable(
                pingora::cache::NoCacheReason::Custom("route does not cache"),
            ),
        })
    }

    fn cache_vary_filter(
        &self,
        meta: &pingora::cache::CacheMeta,
        ctx: &mut RequestCtx,
        req: &RequestHeader,
    ) -> Option<pingora::cache::key::HashBinary> {
        crate::cache::variance(meta, req, &mut ctx.cache)
    }

    fn should_serve_stale(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
        error: Option<&Error>,
    ) -> bool {
        crate::cache::serve_stale(error, &mut ctx.cache)
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let Some((_, cluster)) = ctx.route_and_cluster() else {
            return e;
        };
        if let Some(r) = ctx.endpoint {
            cluster.on_connect_failure(r);
            crate::upstream::tls::log_handshake_failure(cluster, r, peer, &e);
        }
        let input = RetryInput {
            failure: Failure::Connect,
            replayable: replayable(session),
            response_started: false,
            attempts_made: ctx.attempts,
            candidate_left: cluster.has_candidate(&ctx.tried),
        };
        e.set_retry(cluster.retry.decide(&input) == RetryDecision::Retry);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        let Some((_, cluster)) = ctx.route_and_cluster() else {
            e.set_retry(false);
            return e;
        };
        let failure = match (ctx.status_retry, e.etype()) {
            (true, ErrorType::HTTPStatus(code)) => Failure::Status(*code),
            _ => Failure::of(&e, client_reused),
        };
        let input = RetryInput {
            failure,
            replayable: replayable(session),
            response_started: session.response_written().is_some(),
            attempts_made: ctx.attempts,
            candidate_left: cluster.has_candidate(&ctx.tried),
        };
        let decision = cluster.retry.decide(&input);
        if failure.blames_endpoint() {
            if let Some(r) = ctx.endpoint {
                cluster.endpoint(r).attempts().error.inc();
            }
        }
        if decision == RetryDecision::Reconnect {
            // Transparent: neither an upstream failure nor a retry.
            if let Some(r) = ctx.endpoint {
                ctx.tried.remove(r);
            }
            ctx.reconnecting = true;
        }
        e.set_retry(decision != RetryDecision::GiveUp);
        e
    }

    fn suppress_error_log(&self, session: &Session, _ctx: &RequestCtx, error: &Error) -> bool {
        crate::admission::request_guard::is_rejection(error)
            || crate::protocol::websocket::is_idle_close(session, error)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        if let Some(sent) = session.response_written().map(|r| r.status.as_u16()) {
            // A gRPC call ends with its error status in trailers instead.
            if crate::protocol::grpc::end_with_error(session, &mut ctx.grpc, error_status(e)).await
            {
                return FailToProxy {
                    error_code: sent,
                    can_reuse_downstream: false,
                };
            }
            // The client already has a response header (and maybe part of
            // the body): a second body would corrupt it. End the message as
            // incomplete instead: HTTP/1.1 closes without the final chunk
            // or before Content-Length is met, HTTP/2 resets the stream.
            if session.as_http2().is_some() {
                // The h2 library drops a stream's queued frames when it is
                // reset: give the connection task a few turns to flush the
                // head and body already written (best effort; a client
                // that gets only the reset still sees a failed exchange).
                for _ in 0..H2_FLUSH_YIELDS {
                    tokio::task::yield_now().await;
                }
            }
            session.downstream_session.shutdown().await;
            return FailToProxy {
                error_code: sent,
                can_reuse_downstream: false,
            };
        }
        let code = error_status(e);
        // Pingora decides reuse after a failed proxy attempt from the
        // upstream exchange, not from this answer: announce the close.
        if code > 0 {
            if let Err(write_err) =
                respond_error(session, ctx, ErrorResponse::new(code).close()).await
            {
                log::debug!("could not send the error response: {write_err}");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        if let Some(route_cache) = ctx.route_cache() {
            crate::cache::record(session, route_cache, &ctx.cache, e.is_some());
        }
        if crate::cache::is_background(session) {
            // A background cache revalidation: not a client request.
            return;
        }
        let status = match (session.response_written(), e) {
            (Some(r), _) => r.status.as_u16(),
            // The client went away before any response: 499, as in nginx.
            (None, Some(e)) if *e.esource() == ErrorSource::Downstream => CLIENT_CLOSED,
            (None, _) => 0,
        };
        let elapsed = ctx.started.elapsed();
        let route = ctx.route_and_cluster().map(|(r, _)| r);
        if e.is_none() {
            if let (Some((_, cluster)), Some(r)) = (ctx.route_and_cluster(), ctx.endpoint) {
                cluster.endpoint(r).attempts().success.inc();
            }
        }
        let protocol = crate::protocol::label::of(session);
        match route {
            Some(route) => route.requests.inc(status, protocol),
            None => UNROUTED.inc(status, protocol),
        }
        if let Some(route) = route {
            route.duration.observe(elapsed.as_secs_f64());
        }
        ctx.grpc.record(route.map_or(&UNROUTED_GRPC, |r| &r.grpc));
        let access_log = self.state.access_log();
        if access_log.enabled() {
            let req = session.req_header();
            let (cluster, endpoint) = match (ctx.route_and_cluster(), ctx.endpoint) {
                (Some((_, c)), Some(r)) => (c.name.as_str(), c.endpoint(r).label.as_str()),
                (Some((_, c)), None) => (c.name.as_str(), "-"),
                _ => ("-", "-"),
            };
            access_log.log(&AccessRecord {
                time: SystemTime::now(),
                method: req.method.as_str(),
                path: req.uri.path(),
                status,
                route: ctx.route_name(),
                cluster,
                endpoint,
                attempts: ctx.attempts,
                duration: elapsed,
                request_id: &ctx.request_id,
                error: e.map(|e| e as &dyn std::fmt::Display),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_map_to_504_and_upstream_errors_to_502() {
        let timeout = Error::explain(ErrorType::ReadTimedout, "t").into_up();
        assert_eq!(error_status(&timeout), 504);
        let refused = Error::explain(ErrorType::ConnectRefused, "r").into_up();
        assert_eq!(error_status(&refused), 502);
        let explicit = Error::explain(ErrorType::HTTPStatus(503), "none");
        assert_eq!(error_status(&explicit), 503);
        let closed = Error::explain(ErrorType::ConnectionClosed, "c").into_down();
        assert_eq!(error_status(&closed), 0);
    }
}
