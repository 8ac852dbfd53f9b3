//! `h2c`: HTTP/2 with prior knowledge only; HTTP/1.1 is refused.

use super::http::dispatch;
use super::{Behaviour, MockContext, MockResponse};
use async_trait::async_trait;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;
use tokio::net::TcpStream;

/// Speaks only h2c and answers like `inner`.
pub struct H2cOnly {
    /// How requests are answered.
    pub inner: Arc<dyn Behaviour>,
}

#[async_trait]
impl Behaviour for H2cOnly {
    async fn respond(&self, req: Request<Incoming>, ctx: &MockContext) -> MockResponse {
        let mut resp = self.inner.respond(req, ctx).await;
        resp.headers_mut()
            .insert("x-upstream-protocol", http::HeaderValue::from_static("h2c"));
        resp
    }

    async fn serve(self: Arc<Self>, stream: TcpStream, ctx: Arc<MockContext>) {
        let service = service_fn(move |req| dispatch(ctx.clone(), req));
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(stream), service)
            .await;
    }
}
