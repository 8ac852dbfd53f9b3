//! A small gRPC echo service (`echo.Echo`) and its client, on tonic with
//! hand-written prost messages (no `protoc`, no build script).
//!
//! - `/echo.Echo/Unary`: one [`EchoReply`] with the request's message, or,
//!   when the request asks for a `status`, that status (trailers-only).
//! - `/echo.Echo/Stream`: `count` replies (index 0..count), then status OK,
//!   or the requested `status` and message in the trailers after the
//!   replies: what a proxy that drops or rewrites trailers would break.
//!
//! The mock upstream behaviour is in `upstream/grpc.rs`; the scenario step in
//! `scenario/steps/grpc.rs`.

use http::uri::PathAndQuery;
use std::time::Duration;
use tonic::codec::ProstCodec;
use tonic::server::{ServerStreamingService, UnaryService};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status};

/// Path of the unary method.
pub const UNARY_PATH: &str = "/echo.Echo/Unary";
/// Path of the server-streaming method.
pub const STREAM_PATH: &str = "/echo.Echo/Stream";

/// Request of both methods.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoRequest {
    /// Echoed in every reply.
    #[prost(string, tag = "1")]
    pub message: String,
    /// Stream: how many replies.
    #[prost(uint32, tag = "2")]
    pub count: u32,
    /// A gRPC status code to end with instead of OK (0: OK).
    #[prost(int32, tag = "3")]
    pub status: i32,
    /// Stream: milliseconds to wait after the replies, before the status.
    #[prost(uint32, tag = "4")]
    pub pause_ms: u32,
}

/// One reply.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoReply {
    /// The request's message.
    #[prost(string, tag = "1")]
    pub message: String,
    /// Position in the stream (0 for unary).
    #[prost(uint32, tag = "2")]
    pub index: u32,
}

/// The status a request asks the server to end with, if not OK.
fn requested_status(req: &EchoRequest) -> Option<Status> {
    (req.status != 0).then(|| Status::new(Code::from_i32(req.status), req.message.clone()))
}

/// The unary method.
#[derive(Clone, Copy, Default)]
pub struct UnaryEcho;

impl UnaryService<EchoRequest> for UnaryEcho {
    type Response = EchoReply;
    type Future = std::future::Ready<Result<Response<EchoReply>, Status>>;

    fn call(&mut self, request: Request<EchoRequest>) -> Self::Future {
        let req = request.into_inner();
        std::future::ready(match requested_status(&req) {
            Some(status) => Err(status),
            None => Ok(Response::new(EchoReply {
                message: req.message,
                index: 0,
            })),
        })
    }
}

/// The server-streaming method.
#[derive(Clone, Copy, Default)]
pub struct StreamEcho;

/// The replies of one stream call.
pub type ReplyStream = tokio_stream::wrappers::ReceiverStream<Result<EchoReply, Status>>;

impl ServerStreamingService<EchoRequest> for StreamEcho {
    type Response = EchoReply;
    type ResponseStream = ReplyStream;
    type Future = std::future::Ready<Result<Response<ReplyStream>, Status>>;

    fn call(&mut self, request: Request<EchoRequest>) -> Self::Future {
        let req = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            for index in 0..req.count {
                let reply = EchoReply {
                    message: req.message.clone(),
                    index,
                };
                if tx.send(Ok(reply)).await.is_err() {
                    return;
                }
            }
            if req.pause_ms > 0 {
                tokio::time::sleep(Duration::from_millis(req.pause_ms.into())).await;
            }
            if let Some(status) = requested_status(&req) {
                let _ = tx.send(Err(status)).await;
            }
        });
        std::future::ready(Ok(Response::new(ReplyStream::new(rx))))
    }
}

/// What one call ended with, as a gRPC client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    /// The final `grpc-status` (0 for OK).
    pub code: i32,
    /// The final `grpc-message` (empty for OK).
    pub message: String,
    /// Replies received that echoed the request's message in order.
    pub replies: usize,
    /// Replies that did not (wrong message or index).
    pub wrong_replies: usize,
    /// Whether the final status arrived (in trailers, or in the headers
    /// of a trailers-only answer) rather than being inferred.
    pub status_received: bool,
}

/// A gRPC client of the echo service over h2c (prior knowledge).
#[derive(Clone)]
pub struct EchoClient {
    grpc: tonic::client::Grpc<Channel>,
}

impl EchoClient {
    /// Connects (lazily: the first call opens the connection) to
    /// `127.0.0.1:port`; every call has `timeout`.
    pub fn new(addr: std::net::SocketAddr, timeout: Duration) -> Result<Self, String> {
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| format!("bad address {addr}: {e}"))?
            .connect_timeout(timeout)
            .timeout(timeout);
        Ok(EchoClient {
            grpc: tonic::client::Grpc::new(endpoint.connect_lazy()),
        })
    }

    /// Like [`EchoClient::new`], over TLS with ALPN `h2`: the server's
    /// certificate is verified for `server_name` with the CA in `ca_pem`.
    pub fn new_tls(
        addr: std::net::SocketAddr,
        ca_pem: &std::path::Path,
        server_name: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        let ca = std::fs::read(ca_pem).map_err(|e| format!("{}: {e}", ca_pem.display()))?;
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(ca))
            .domain_name(server_name);
        let endpoint = Endpoint::from_shared(format!("https://{addr}"))
            .map_err(|e| format!("bad address {addr}: {e}"))?
            .tls_config(tls)
            .map_err(|e| format!("TLS settings: {e}"))?
            .connect_timeout(timeout)
            .timeout(timeout);
        Ok(EchoClient {
            grpc: tonic::client::Grpc::new(endpoint.connect_lazy()),
        })
    }

    /// One unary call.
    pub async fn unary(&self, req: EchoRequest) -> CallOutcome {
        self.call(UNARY_PATH, req).await
    }

    /// One server-streaming call, read to its end.
    pub async fn stream(&self, req: EchoRequest) -> CallOutcome {
        self.call(STREAM_PATH, req).await
    }

    /// Both methods look alike on the wire (one request message, replies,
    /// a status): read every reply, then the trailers.
    async fn call(&self, path: &'static str, req: EchoRequest) -> CallOutcome {
        let mut grpc = self.grpc.clone();
        if let Err(e) = grpc.ready().await {
            return failed(Status::unavailable(e.to_string()));
        }
        let message = req.message.clone();
        let path = PathAndQuery::from_static(path);
        let mut stream = match grpc
            .server_streaming::<_, EchoReply, _>(Request::new(req), path, ProstCodec::default())
            .await
        {
            Ok(response) => response.into_inner(),
            Err(status) => return failed(status),
        };
        let (mut replies, mut wrong_replies) = (0, 0);
        loop {
            match stream.message().await {
                Ok(Some(reply)) => {
                    if reply.message == message && reply.index as usize == replies + wrong_replies {
                        replies += 1;
                    } else {
                        wrong_replies += 1;
                    }
                }
                Ok(None) => break,
                Err(status) => {
                    return CallOutcome {
                        replies,
                        wrong_replies,
                        ..failed(status)
                    }
                }
            }
        }
        // tonic takes an HTTP 200 that ends without trailers for success:
        // check that `grpc-status: 0` really arrived.
        let status_received = match stream.trailers().await {
            Ok(Some(trailers)) => trailers.get("grpc-status").is_some_and(|v| v == "0"),
            _ => false,
        };
        CallOutcome {
            code: 0,
            message: String::new(),
            replies,
            wrong_replies,
            status_received,
        }
    }
}

/// The outcome of a call that ended with a non-OK status. The status was
/// received when the server (or gateway) sent it: not when tonic made it
/// up from a transport error (it then has a source) or from a non-200 HTTP
/// status without `grpc-status`.
fn failed(status: Status) -> CallOutcome {
    let received = std::error::Error::source(&status).is_none()
        && !status.message().starts_with("grpc-status header missing");
    CallOutcome {
        code: status.code() as i32,
        message: status.message().to_string(),
        replies: 0,
        wrong_replies: 0,
        status_received: received,
    }
}
