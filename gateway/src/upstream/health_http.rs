//! One HTTP health-check exchange over a new connection, in the cluster's
//! protocol: HTTP/1.1, h2c (prior knowledge), or over TLS whatever ALPN
//! settles (h2 or HTTP/1.1), with the cluster's CA, client certificate and
//! server name. Never pooled: a failed connect or TLS handshake fails the
//! check.

use super::endpoint::Endpoint;
use bytes::Bytes;
use pingora::connectors::http::v2::{handshake, H2HandshakeSettings};
use pingora::connectors::TransportConnector;
use pingora::http::RequestHeader;
use pingora::protocols::http::client::HttpSession;
use pingora::protocols::http::v1::client::HttpSession as Http1Session;
use pingora::protocols::{Stream, ALPN};
use pingora::upstreams::peer::Peer;
use pingora::{Error, ErrorType, Result};
use std::sync::OnceLock;

/// Largest response body read; the rest is ignored.
pub(super) const MAX_BODY: usize = 64 * 1024;

/// What a check request got back.
#[derive(Debug)]
pub(super) struct CheckResponse {
    /// The response status.
    pub status: u16,
    /// The start of the body (at most [`MAX_BODY`] bytes).
    pub body: Vec<u8>,
}

/// Sends `GET path` with `Host: host` to `ep` and reads the answer.
pub(super) async fn exchange(ep: &Endpoint, path: &str, host: &str) -> Result<CheckResponse> {
    static CONNECTOR: OnceLock<TransportConnector> = OnceLock::new();
    let stream = CONNECTOR
        .get_or_init(|| TransportConnector::new(None))
        .new_stream(&ep.peer)
        .await?;
    let h2 = speaks_h2(&stream, &ep.peer);
    let mut session = if h2 {
        let mut settings = H2HandshakeSettings::new();
        settings.max_streams = 1;
        let connection = handshake(stream, settings).await?;
        let stream = connection.spawn_stream().await?.ok_or_else(|| {
            Error::explain(ErrorType::H2Error, "health check: no h2 stream available")
        })?;
        HttpSession::H2(stream)
    } else {
        HttpSession::H1(Http1Session::new(stream))
    };
    let mut request = RequestHeader::build("GET", path.as_bytes(), Some(3))?;
    request.insert_header(http::header::HOST, host)?;
    request.insert_header(http::header::USER_AGENT, "gateway-health-check")?;
    if !h2 {
        request.insert_header(http::header::CONNECTION, "close")?;
    }
    session.write_request_header(Box::new(request)).await?;
    session.finish_request_body().await?;
    session.read_response_header().await?;
    let status = session
        .response_header()
        .map(|r| r.status.as_u16())
        .ok_or_else(|| Error::explain(ErrorType::InvalidHTTPHeader, "health check: no status"))?;
    let body = read_body(&mut session).await;
    Ok(CheckResponse { status, body })
}

/// h2 when ALPN chose it, or on a plaintext connection to an h2c cluster.
fn speaks_h2(stream: &Stream, peer: &impl Peer) -> bool {
    match stream.selected_alpn_proto() {
        Some(ALPN::H2) => true,
        Some(_) => false,
        None => {
            stream.get_ssl_digest().is_none()
                && peer
                    .get_peer_options()
                    .is_some_and(|o| o.alpn.get_min_http_version() == 2)
        }
    }
}

/// Up to [`MAX_BODY`] bytes of the body. A read error ends it with what
/// arrived (a TLS server closing without close_notify after its answer):
/// the status is already in, and a body check judges what came.
async fn read_body(session: &mut HttpSession) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < MAX_BODY {
        match session.read_response_body().await {
            Ok(Some(chunk)) => append(&mut body, chunk),
            Ok(None) => break,
            Err(e) => {
                log::debug!("health check body ended by {e}");
                break;
            }
        }
    }
    body
}

fn append(body: &mut Vec<u8>, chunk: Bytes) {
    let room = MAX_BODY - body.len();
    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
}
