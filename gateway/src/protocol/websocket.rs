//! WebSocket (HTTP/1.1 `Upgrade`) connections: their idle timeout and the
//! `gateway_websocket_connections` gauge. See docs/WEBSOCKET.md.
//!
//! Only WebSocket upgrades (`Upgrade: websocket`) are treated here; other
//! upgrades (`Upgrade: h2c` from `curl --http2`) keep the cluster's timeouts.
//!
//! Pingora relays an upgraded connection itself: once the upstream answers
//! `101 Switching Protocols`, bytes are copied both ways until either side
//! closes. The relay is not frame-aware. Each side is bounded by its read
//! timeout, and both become the route's `websocket_idle_timeout` instead of
//! the cluster's `timeouts.read`:
//!
//! - upstream: Pingora copies the peer's `read_timeout` into the upstream
//!   session when it starts the exchange, and no hook reaches that session
//!   later, so [`RouteWebSocket::prepare_peer`] sets it on the peer of every
//!   WebSocket upgrade request (the wait for the `101` is bounded by it too);
//! - client: [`RouteWebSocket::on_response`] sets the client session's read
//!   timeout when the `101` goes out, and its write timeout (none by
//!   default), so a client that stops reading cannot hold the relay forever.

use crate::config::RouteConfig;
use crate::observe::metrics::METRICS;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType};
use std::time::Duration;

/// A route's settings for upgraded connections.
#[derive(Debug, Clone, Copy)]
pub struct RouteWebSocket {
    idle_timeout: Duration,
}

impl RouteWebSocket {
    /// From the route's `websocket_idle_timeout`.
    pub fn new(rc: &RouteConfig) -> Self {
        RouteWebSocket {
            idle_timeout: rc.websocket_idle_timeout.0,
        }
    }

    /// How long an upgraded connection may stay silent in one direction.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// For a WebSocket upgrade request, replaces the upstream read timeout
    /// with the idle timeout; other requests (`Upgrade: h2c` included) keep
    /// the cluster's.
    pub fn prepare_peer(&self, session: &Session, peer: &mut HttpPeer) {
        if session.is_upgrade_req() && asks_for_websocket(&session.req_header().headers) {
            peer.options.read_timeout = Some(self.idle_timeout);
        }
    }

    /// On the `101` that completes an upgrade: the client read and write
    /// timeouts become the idle timeout, and a WebSocket is counted open until the
    /// returned guard drops (when the request's context does, however the
    /// connection ended).
    pub fn on_response(
        &self,
        session: &mut Session,
        response: &ResponseHeader,
    ) -> Option<OpenWebSocket> {
        if session.is_upgrade(response) != Some(true)
            || !asks_for_websocket(&session.req_header().headers)
        {
            return None;
        }
        session.set_read_timeout(Some(self.idle_timeout));
        session.set_write_timeout(Some(self.idle_timeout));
        Some(OpenWebSocket::open())
    }
}

/// Whether a request's `Upgrade` header lists the `websocket` token. Other
/// upgrades are left to Pingora with the cluster's timeouts.
fn asks_for_websocket(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("websocket"))
}

/// One open WebSocket in `gateway_websocket_connections`.
#[derive(Debug)]
pub struct OpenWebSocket(());

impl OpenWebSocket {
    fn open() -> Self {
        METRICS.websocket_connections.inc();
        OpenWebSocket(())
    }
}

impl Drop for OpenWebSocket {
    fn drop(&mut self) {
        METRICS.websocket_connections.dec();
    }
}

/// Whether `e` is an upgraded connection going idle past its timeout: the
/// expected end of a quiet WebSocket, not worth an error log line.
pub(crate) fn is_idle_close(session: &Session, e: &Error) -> bool {
    session.was_upgraded() && matches!(e.etype(), ErrorType::ReadTimedout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgrade(values: &[&str]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for v in values {
            headers.append(http::header::UPGRADE, v.parse().unwrap());
        }
        headers
    }

    #[test]
    fn only_the_websocket_token_asks_for_websocket() {
        assert!(asks_for_websocket(&upgrade(&["websocket"])));
        assert!(asks_for_websocket(&upgrade(&["WebSocket"])));
        assert!(asks_for_websocket(&upgrade(&["foo/2, websocket"])));
        assert!(asks_for_websocket(&upgrade(&["h2c", "websocket"])));
        assert!(!asks_for_websocket(&upgrade(&["h2c"])));
        assert!(!asks_for_websocket(&upgrade(&["websockets"])));
        assert!(!asks_for_websocket(&upgrade(&[])));
    }
}
