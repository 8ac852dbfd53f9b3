//! `grpc`: the echo service of [`crate::grpc`] over h2c (prior knowledge),
//! answered by tonic's server codec. HTTP/1.1 is refused.

use super::{Behaviour, MockContext};
use crate::grpc::{StreamEcho, UnaryEcho, STREAM_PATH, UNARY_PATH};
use async_trait::async_trait;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpStream;
use tonic::codec::ProstCodec;
use tonic::server::Grpc;

/// The gRPC echo service.
pub struct GrpcEcho;

#[async_trait]
impl Behaviour for GrpcEcho {
    async fn serve(self: Arc<Self>, stream: TcpStream, ctx: Arc<MockContext>) {
        let service = service_fn(move |req| answer(ctx.clone(), req));
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(stream), service)
            .await;
    }
}

async fn answer(
    ctx: Arc<MockContext>,
    req: Request<Incoming>,
) -> Result<http::Response<tonic::body::Body>, Infallible> {
    ctx.count_hit();
    let _in_flight = ctx.enter();
    let mut grpc = Grpc::new(ProstCodec::default());
    let response = match req.uri().path() {
        UNARY_PATH => grpc.unary(UnaryEcho, req).await,
        STREAM_PATH => grpc.server_streaming(StreamEcho, req).await,
        other => tonic::Status::unimplemented(format!("no method {other}")).into_http(),
    };
    Ok(response)
}
