//! The one `ProxyHttp` implementation. It only orchestrates: each phase is a
//! short list of calls into the stage that owns the concern.
//!
//! ```text
//! Pingora phase             stage modules it calls
//! early_request_filter      hygiene (request id, session, prepare), protocol::grpc,
//!                           admission::client (address, global IP rules), edge::tls,
//!                           route (table match), admission::request_guard (head)
//! request_filter            edge (HTTPS redirect), edge::tls (certificate rule),
//!                           admission::admit, cache::purge, response (refusals)
//! upstream_peer             upstream::Attempt, edge::tls (SNI), protocol::websocket
//! upstream_request_filter   admission::client (X-Forwarded-*), route (rewrites,
//!                           header rules, CN header, identity)
//! request_body_filter       admission::request_guard
//! connected_to_upstream,    upstream::Attempt (connection counts, passive health,
//! fail_to_connect,            retry decisions)
//! upstream_response_filter,
//! error_while_proxy
//! response_filter           route::headers, protocol, upstream::Attempt (sticky
//!                           cookie), cache
//! response_trailer_filter   protocol::grpc
//! the cache hooks           cache
//! fail_to_proxy             response (status_for, end_started, error page)
//! logging                   cache, upstream::Attempt, protocol, observe::log_request
//! ```

use crate::admission::{self, client::ClientConn, limits::Permits, request_guard::BodyGuard};
use crate::cache;
use crate::control::{generation::Generation, state::GatewayState};
use crate::hygiene;
use crate::hygiene::request_id::{self, RequestId, X_REQUEST_ID};
use crate::observe::{self, FinishedRequest, Started};
use crate::protocol::grpc::GrpcCall;
use crate::response::{self, error::ErrorResponse};
use crate::route::Route;
use crate::upstream::{Attempt, Cluster};
use async_trait::async_trait;
use http::header::SET_COOKIE;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::Digest;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, Result};
use std::net::IpAddr;
use std::sync::Arc;

/// The gateway proxy.
pub(crate) struct GatewayProxy {
    state: Arc<GatewayState>,
}

impl GatewayProxy {
    /// A proxy over the gateway's live state.
    pub(crate) fn new(state: Arc<GatewayState>) -> Self {
        Self { state }
    }
}

/// Per-request state carried between phases.
#[derive(Default)]
pub(crate) struct RequestCtx {
    /// When the context was created, as the request began.
    started: Started,
    /// The generation the request runs on and the route it matched.
    routing: Routing,
    /// A refusal decided in `early_request_filter`, answered by `request_filter`.
    rejection: Option<u16>,
    request_id: RequestId,
    /// The upstream attempts: endpoint, retries, sticky pin.
    attempt: Attempt,
    /// What the response cache did for this request.
    cache: cache::CacheState,
    /// The client's address (set in `early_request_filter`): the socket
    /// peer, or behind trusted proxies the forwarded client (`crate::admission::client`).
    pub client_ip: Option<IpAddr>,
    /// The client connection: peer, whether it is a trusted proxy, TLS.
    client: ClientConn,
    /// Body size and body-rule state, from `request_filter` on.
    body: BodyGuard,
    /// The identity a route's auth accepted (key name, user, token subject).
    pub identity: Option<String>,
    /// The client certificate's names (HTTPS listeners with `client_auth`).
    pub client_cert: Option<Arc<crate::edge::tls::ClientIdentity>>,
    /// In-flight slots held until the request ends (released on drop).
    permits: Permits,
    /// Counts an upgraded WebSocket as open until the request ends.
    websocket: Option<crate::protocol::websocket::OpenWebSocket>,
    /// Whether this is a gRPC call, and the status it ended with.
    grpc: GrpcCall,
    /// In flight until the context drops after `logging` (`control::shutdown`).
    _in_flight: Option<crate::edge::activity::Active>,
}

/// The generation a request runs on and the index of its route there.
#[derive(Default)]
struct Routing {
    generation: Option<Arc<Generation>>,
    index: Option<usize>,
}

impl Routing {
    fn route(&self) -> Option<&Route> {
        Some(self.generation.as_ref()?.routes.get(self.index?))
    }

    fn cluster(&self) -> Option<&Cluster> {
        self.route().map(|r| &*r.cluster)
    }

    fn cache(&self) -> Option<&Arc<cache::RouteCache>> {
        self.route()?.cache.as_ref()
    }
}

/// Writes the gateway's own error response (JSON, error page or gRPC form).
async fn respond_error(
    session: &mut Session,
    ctx: &mut RequestCtx,
    response: ErrorResponse,
) -> Result<()> {
    ctx.grpc.on_gateway_error(response.status());
    let page = ctx.routing.route().and_then(|r| r.error_page.as_ref());
    response.write(session, page, &ctx.request_id).await
}

#[async_trait]
impl ProxyHttp for GatewayProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            _in_flight: Some(self.state.lifecycle().activity().request()),
            ..RequestCtx::default()
        }
    }

    /// Setup (generation, request id, client), then the refusals in order:
    /// global IP rules, hygiene (canonical path), no route, route head check.
    async fn early_request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let generation = self.state.current();
        generation.downstream.apply_to_session(session);
        ctx.request_id = request_id::for_request(session.req_header());
        ctx.grpc = GrpcCall::of(session.req_header());
        (ctx.client, ctx.client_ip) = ClientConn::identify(session, &generation.client);
        ctx.client_cert = crate::edge::tls::client_identity(session);
        ctx.rejection = generation.client.refusal(ctx.client_ip);
        if ctx.rejection.is_none() {
            ctx.rejection = hygiene::prepare(session.req_header_mut(), &generation.downstream)?;
        }
        if ctx.rejection.is_none() {
            let req = session.req_header();
            ctx.routing.index = crate::route::find(&generation.routes, req);
            let route = ctx.routing.index.map(|i| generation.routes.get(i));
            ctx.rejection =
                route.map_or(Some(404), |r| r.guard.check_head(ctx.client_ip, req).err());
        }
        ctx.routing.generation = Some(generation);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let redirect = ctx.routing.route().filter(|_| ctx.rejection.is_none());
        let redirect = redirect.and_then(|r| r.redirect_https.as_ref());
        if crate::edge::redirect_https(session, redirect, ctx.client.tls).await? {
            return Ok(true);
        }
        // A status decided before proxying (or no route), the route's
        // client-certificate rule, then the route's admission checks.
        let route = ctx.routing.route();
        let cert = ctx.client_cert.as_deref();
        let refused = ctx.rejection.or_else(|| route?.tls.refusal(cert));
        let admitted = match route.filter(|_| refused.is_none()) {
            Some(route) => {
                let (id, permits, body) = (&mut ctx.identity, &mut ctx.permits, &mut ctx.body);
                admission::admit(session, &route.checks(), ctx.client_ip, id, permits, body).await?
            }
            None => Err(ErrorResponse::new(refused.unwrap_or(404))),
        };
        if let Err(refusal) = admitted {
            // Answered before proxying: the connection stays usable.
            respond_error(session, ctx, refusal).await?;
            return Ok(true);
        }
        let route_cache = ctx.routing.cache().cloned();
        cache::purge::answer_purge_method(session, route_cache.as_deref(), ctx.client_ip).await
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let route = ctx.routing.route();
        let route = route.ok_or_else(|| response::internal("no route selected"))?;
        let req = session.req_header();
        let mut peer = ctx.attempt.next_peer(&route.cluster, req, ctx.client_ip)?;
        route.tls.apply_sni(&mut peer, req)?;
        route.websocket.prepare_peer(session, &mut peer);
        Ok(peer)
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some(route) = ctx.routing.route() else {
            return Ok(());
        };
        ctx.client.forward_headers(upstream_request)?;
        upstream_request.insert_header(X_REQUEST_ID, ctx.request_id.header_value())?;
        let (cert, identity) = (ctx.client_cert.as_deref(), ctx.identity.as_deref());
        route.edit_upstream_request(upstream_request, cert, identity)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let attempt = ctx.attempt.attempts();
        admission::request_guard::filter_body(&mut ctx.body, attempt, body, end_of_stream)
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
        if let Some(cluster) = ctx.routing.cluster() {
            ctx.attempt.on_connected(cluster, reused);
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some(cluster) = ctx.routing.cluster() else {
            return Ok(());
        };
        let status = upstream_response.status.as_u16();
        ctx.attempt.on_status(cluster, session, status)
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(route) = ctx.routing.route() {
            route.response_headers.apply(upstream_response);
            ctx.websocket = route.websocket.on_response(session, upstream_response);
        }
        ctx.grpc.on_response_header(upstream_response);
        if let Some(cookie) = ctx.attempt.take_pin_cookie() {
            upstream_response.append_header(SET_COOKIE, cookie)?;
        }
        if !upstream_response.headers.contains_key(X_REQUEST_ID) {
            upstream_response.insert_header(X_REQUEST_ID, ctx.request_id.header_value())?;
        }
        if ctx.routing.cache().is_some() {
            cache::response_headers(session, &ctx.cache, upstream_response);
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
        if let Some(route_cache) = ctx.routing.cache().cloned() {
            cache::enable(session, &route_cache, &mut ctx.cache);
        }
        Ok(())
    }

    fn cache_key_callback(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
    ) -> Result<pingora::cache::CacheKey> {
        let route_cache = ctx.routing.cache();
        let route_cache =
            route_cache.ok_or_else(|| response::internal("cache key without a caching route"))?;
        cache::cache_key(session, route_cache, ctx.identity.as_deref())
    }

    fn cache_miss(&self, session: &mut Session, ctx: &mut RequestCtx) {
        cache::on_miss(session, &mut ctx.cache);
    }

    async fn cache_hit_filter(
        &self,
        session: &mut Session,
        meta: &pingora::cache::CacheMeta,
        _hit_handler: &mut pingora::cache::HitHandler,
        is_fresh: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<pingora::cache::ForcedFreshness>> {
        Ok(cache::on_hit(session, meta, is_fresh, &mut ctx.cache))
    }

    fn response_cache_filter(
        &self,
        session: &Session,
        resp: &ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<pingora::cache::RespCacheable> {
        Ok(match ctx.routing.cache() {
            Some(route_cache) => cache::cacheable(session, route_cache, resp),
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
        cache::variance(meta, req, &mut ctx.cache)
    }

    fn should_serve_stale(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
        error: Option<&Error>,
    ) -> bool {
        cache::serve_stale(error, &mut ctx.cache)
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let Some(cluster) = ctx.routing.cluster() {
            ctx.attempt
                .on_connect_failure(cluster, session, peer, &mut e);
        }
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
        match ctx.routing.cluster() {
            Some(cluster) => ctx
                .attempt
                .on_proxy_error(cluster, session, &mut e, client_reused),
            None => e.set_retry(false),
        }
        e
    }

    fn suppress_error_log(&self, session: &Session, _ctx: &RequestCtx, error: &Error) -> bool {
        admission::request_guard::is_rejection(error)
            || crate::protocol::websocket::is_idle_close(session, error)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let code = response::status_for(e);
        let sent = session.response_written().map(|r| r.status.as_u16());
        if sent.is_some() {
            if response::end_started(session, ctx.grpc.is_open(), code).await {
                ctx.grpc.on_gateway_error(code);
            }
        } else if code > 0 {
            // Pingora decides reuse after a failed proxy attempt from the
            // upstream exchange, not from this answer: announce the close.
            let response = ErrorResponse::new(code).close();
            if let Err(write_err) = respond_error(session, ctx, response).await {
                log::debug!("could not send the error response: {write_err}");
            }
        }
        FailToProxy {
            error_code: sent.unwrap_or(code),
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        if let Some(route_cache) = ctx.routing.cache() {
            cache::record(session, route_cache, &ctx.cache, e.is_some());
        }
        if cache::is_background(session) {
            // A background cache revalidation: not a client request.
            return;
        }
        let (route, cluster) = (ctx.routing.route(), ctx.routing.cluster());
        if let (Some(cluster), None) = (cluster, e) {
            ctx.attempt.on_success(cluster);
        }
        ctx.grpc.record(route.map(|r| &r.grpc));
        let done = FinishedRequest {
            req: session.req_header(),
            response: session.response_written().map(|r| r.status.as_u16()),
            error: e,
            protocol: crate::protocol::label::of(session),
            metrics: route.map(|r| &r.metrics),
            route: route.map_or("none", |r| r.name.as_str()),
            cluster: cluster.map_or("-", |c| c.name.as_str()),
            endpoint: cluster.map_or("-", |c| ctx.attempt.endpoint_label(c)),
            attempts: ctx.attempt.attempts(),
            started: ctx.started.0,
            request_id: &ctx.request_id,
        };
        observe::log_request(self.state.access_log(), &done);
    }
}
