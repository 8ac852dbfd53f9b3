//! The admin service: `/metrics`, `/healthz`, `/ready`, `GET /config`,
//! `POST /config/reload`, `POST /drain` (`crate::control::shutdown`),
//! `POST /cache/purge` and `POST /logs/reopen` (`crate::control::reopen`).
//!
//! Access: with `gateway.admin.token`, every endpoint but the probes
//! (`/healthz`, `/ready`) needs `Authorization: Bearer TOKEN`. State-changing
//! requests (`POST`) are refused when they carry an `Origin` header or a
//! `Host` outside `allowed_hosts`, so a browser page cannot trigger them
//! (cross-site requests and DNS rebinding).

use crate::config::AdminConfig;
use crate::control::reopen::{reopen_access_log, REOPEN_WAIT};
use crate::control::state::GatewayState;
use crate::observe::access_log::Reopen;
use crate::observe::metrics;
use async_trait::async_trait;
use http::header::{AUTHORIZATION, HOST, ORIGIN};
use http::{Method, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::http::RequestHeader;
use pingora::protocols::http::ServerSession;
use serde_json::json;
use std::sync::Arc;

/// Serves the admin endpoints over the gateway's state.
pub(crate) struct AdminApp {
    state: Arc<GatewayState>,
    access: Access,
}

/// Who may use the admin endpoints, from the startup config (admin settings
/// change only with a restart).
#[derive(Debug, Default)]
struct Access {
    token: Option<String>,
    allowed_hosts: Vec<String>,
}

/// Why a request is refused.
enum Refusal {
    Unauthorized,
    Forbidden(&'static str),
}

impl Access {
    fn new(cfg: Option<&AdminConfig>) -> Self {
        let Some(cfg) = cfg else {
            return Access::default();
        };
        let allowed_hosts = match &cfg.allowed_hosts {
            Some(hosts) => hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            None => vec![
                cfg.address.to_string(),
                format!("localhost:{}", cfg.address.0.port()),
            ],
        };
        Access {
            token: cfg.token.clone(),
            allowed_hosts,
        }
    }

    fn check(&self, req: &RequestHeader, path: &str) -> Result<(), Refusal> {
        let probe = matches!(path, "/healthz" | "/ready");
        if let (Some(token), false) = (&self.token, probe) {
            let presented = req
                .headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if !constant_time_eq(presented.as_bytes(), token.as_bytes()) {
                return Err(Refusal::Unauthorized);
            }
        }
        if req.method == Method::POST {
            if req.headers.contains_key(ORIGIN) {
                return Err(Refusal::Forbidden(
                    "state-changing admin requests must not come from a browser (Origin header)",
                ));
            }
            let host = req
                .headers
                .get(HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            if !self.allowed_hosts.contains(&host) {
                return Err(Refusal::Forbidden(
                    "Host is not in gateway.admin.allowed_hosts",
                ));
            }
        }
        Ok(())
    }
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl AdminApp {
    /// An admin app over the gateway's live state.
    pub(crate) fn new(state: Arc<GatewayState>) -> Self {
        let access = Access::new(state.startup().config.gateway.admin.as_ref());
        Self { state, access }
    }

    fn config_summary(&self) -> serde_json::Value {
        let generation = self.state.current();
        json!({
            "generation": generation.id,
            "hash": generation.hash,
            "source": generation.loaded.source.display_name(),
            "config_watch": generation.loaded.config.gateway.config_watch.as_ref()
                .map(|w| w.interval.to_string()),
            "routes": generation.routes.entries().map(|(m, r)| json!({
                "name": r.name,
                "cluster": r.cluster.name,
                "prefix": m.prefix,
            })).collect::<Vec<_>>(),
            "clusters": generation.clusters.values().map(|c| json!({
                "name": c.name,
                "available": c.any_available(),
                "endpoints": c.primary.endpoints.iter().enumerate().map(|(i, e)| json!({
                    "name": e.label, "address": e.addr.to_string(), "available": c.primary.is_available(i),
                })).collect::<Vec<_>>(),
                "backup": c.backup.iter().flat_map(|p| p.endpoints.iter().enumerate().map(move |(i, e)| json!({
                    "name": e.label, "address": e.addr.to_string(), "available": p.is_available(i),
                }))).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }

    fn reload(&self) -> (StatusCode, serde_json::Value) {
        match self.state.reload() {
            Ok(outcome) => (
                StatusCode::OK,
                json!({ "result": "applied", "generation": outcome.generation, "needs_restart": outcome.needs_restart }),
            ),
            Err(e) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "result": "rejected", "error": e.to_string(), "generation": self.state.current().id }),
            ),
        }
    }
}

impl AdminApp {
    /// `POST /drain`: the start of a SIGTERM (`crate::control::shutdown`).
    fn drain(&self) -> Response<Vec<u8>> {
        let lifecycle = self.state.lifecycle();
        let delay = self
            .state
            .current()
            .loaded
            .config
            .gateway
            .shutdown
            .drain_delay;
        let result = if lifecycle.start_draining() {
            log::info!("POST /drain accepted");
            "draining"
        } else {
            "already draining"
        };
        json_reply(
            StatusCode::ACCEPTED,
            json!({ "result": result, "drain_delay": delay.to_string() }),
        )
    }
}

impl AdminApp {
    /// `POST /logs/reopen`: what SIGUSR1 does, answered once the access
    /// log file is reopened.
    async fn reopen_logs(&self) -> Response<Vec<u8>> {
        let (status, body) = match reopen_access_log(&self.state).await {
            Reopen::Reopened(path) => (
                StatusCode::OK,
                json!({ "result": "reopened", "path": path.display().to_string() }),
            ),
            Reopen::NotAFile => (
                StatusCode::OK,
                json!({ "result": "not a file", "destination": "stderr" }),
            ),
            Reopen::Off => (StatusCode::OK, json!({ "result": "off" })),
            Reopen::Failed(path, e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({
                    "result": "error",
                    "path": path.display().to_string(),
                    "error": format!("{e}; lines still go to the file open before"),
                }),
            ),
            Reopen::Pending(path) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({
                    "result": "pending",
                    "path": path.display().to_string(),
                    "error": format!("the access log writer did not reopen the file within {REOPEN_WAIT:?}; it does when it catches up"),
                }),
            ),
        };
        json_reply(status, body)
    }
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Vec<u8>>) -> Response<Vec<u8>> {
    let body = body.into();
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", body.len())
        .header("cache-control", "no-store")
        .body(body)
        .unwrap_or_default()
}

/// Largest admin request body read (the cache purge's JSON).
const MAX_ADMIN_BODY: usize = 64 * 1024;

/// The request body, or `None` (connection closed after) when it is larger
/// than [`MAX_ADMIN_BODY`] or unreadable.
async fn read_small_body(session: &mut ServerSession) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_ADMIN_BODY => {
                body.extend_from_slice(&chunk)
            }
            Ok(None) => return Some(body),
            _ => {
                session.set_keepalive(None);
                return None;
            }
        }
    }
}

fn json_reply(status: StatusCode, value: serde_json::Value) -> Response<Vec<u8>> {
    reply(status, "application/json", value.to_string())
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let (method, path) = (req.method.clone(), req.uri.path().to_string());
        let access = self.access.check(req, &path);
        // Only the cache purge reads its body; others are drained so
        // keep-alive stays usable.
        let body = if method == Method::POST && path == "/cache/purge" {
            read_small_body(session).await
        } else {
            if session.drain_request_body().await.is_err() {
                session.set_keepalive(None);
            }
            Some(Vec::new())
        };
        match access {
            Ok(()) => {}
            Err(Refusal::Unauthorized) => {
                let mut resp = json_reply(
                    StatusCode::UNAUTHORIZED,
                    json!({ "error": "a valid bearer token is required" }),
                );
                resp.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                );
                return resp;
            }
            Err(Refusal::Forbidden(why)) => {
                return json_reply(StatusCode::FORBIDDEN, json!({ "error": why }))
            }
        }
        match (method, path.as_str()) {
            (Method::GET, "/metrics") => reply(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                metrics::render(),
            ),
            (Method::GET, "/healthz") => json_reply(StatusCode::OK, json!({ "status": "ok" })),
            (Method::GET, "/ready") => {
                let generation = self.state.current();
                if self.state.lifecycle().is_draining() {
                    json_reply(
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!({ "status": "draining", "reason": "the gateway is shutting down", "generation": generation.id }),
                    )
                } else if generation.ready() {
                    json_reply(
                        StatusCode::OK,
                        json!({ "status": "ready", "generation": generation.id }),
                    )
                } else {
                    json_reply(
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!({ "status": "not ready", "reason": "no route has an available endpoint", "generation": generation.id }),
                    )
                }
            }
            (Method::GET, "/config") => json_reply(StatusCode::OK, self.config_summary()),
            (Method::POST, "/cache/purge") => match body {
                Some(body) => {
                    let (status, value) = crate::cache::purge::admin_purge(&body);
                    json_reply(
                        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                        value,
                    )
                }
                None => json_reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    json!({ "error": "the purge request body is too large" }),
                ),
            },
            (Method::POST, "/config/reload") => {
                let (status, body) = self.reload();
                json_reply(status, body)
            }
            (Method::POST, "/drain") => self.drain(),
            (Method::POST, "/logs/reopen") => self.reopen_logs().await,
            (
                _,
                "/metrics" | "/healthz" | "/ready" | "/config" | "/config/reload" | "/cache/purge"
                | "/drain" | "/logs/reopen",
            ) => json_reply(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({ "error": "method not allowed" }),
            ),
            _ => json_reply(StatusCode::NOT_FOUND, json!({ "error": "not found" })),
        }
    }
}
