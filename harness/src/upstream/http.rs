//! HTTP plumbing shared by the behaviours: body type, tagged responses and
//! the default hyper connection loop.

use super::{MockContext, HEALTH_CHECK_AGENT};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use tokio::net::TcpStream;

/// Response body of every mock.
pub type MockBody = BoxBody<Bytes, Infallible>;
/// Response of every mock.
pub type MockResponse = Response<MockBody>;

/// A complete body.
pub fn full(body: impl Into<Bytes>) -> MockBody {
    Full::new(body.into()).boxed()
}

/// A response with `x-upstream: name`.
pub fn tagged(name: &str, status: u16, body: MockBody) -> MockResponse {
    let mut resp = Response::new(body);
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(name) {
        resp.headers_mut().insert("x-upstream", v);
    }
    resp
}

/// Answers health checks from the health status; counts and delegates
/// everything else to the current behaviour.
pub(super) async fn dispatch(
    ctx: Arc<MockContext>,
    req: Request<Incoming>,
) -> Result<MockResponse, Infallible> {
    let is_health_check = req
        .headers()
        .get(http::header::USER_AGENT)
        .is_some_and(|ua| ua.as_bytes() == HEALTH_CHECK_AGENT.as_bytes());
    if is_health_check {
        ctx.health_checks.fetch_add(1, SeqCst);
        let status = ctx.health_status.load(SeqCst);
        let body = if status < 400 { "ok" } else { "unhealthy" };
        return Ok(tagged(&ctx.name, status, full(body)));
    }
    ctx.count_hit();
    let behaviour = ctx.behaviour();
    let _in_flight = ctx.enter();
    Ok(behaviour.respond(req, &ctx).await)
}

/// Serves HTTP/1.1 and h2c (prior knowledge) on one connection.
pub(super) async fn serve_auto(stream: TcpStream, ctx: Arc<MockContext>) {
    let service = service_fn(move |req| dispatch(ctx.clone(), req));
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let _ = builder
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
