//! The smallest useful Pingora proxy: one fixed HTTP/1.1 peer, no routing,
//! no header edits, no metrics. What the gateway costs above this is the
//! gateway's own work; what this costs above `direct` is Pingora's.

use async_trait::async_trait;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::Error;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Instant;

/// A proxy to one peer; optionally writes one access-log line per request
/// to stderr, so it can be compared with logging proxies on equal terms.
pub struct BareProxy {
    peer: SocketAddr,
    access_log: bool,
}

impl BareProxy {
    /// A proxy sending everything to `peer`.
    pub fn new(peer: SocketAddr, access_log: bool) -> Self {
        Self { peer, access_log }
    }
}

#[async_trait]
impl ProxyHttp for BareProxy {
    type CTX = Instant;

    fn new_ctx(&self) -> Self::CTX {
        Instant::now()
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut Self::CTX,
    ) -> pingora::Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.peer, false, String::new())))
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, started: &mut Instant) {
        if !self.access_log {
            return;
        }
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let req = session.req_header();
        // One write per line (the gateway buffers its access log).
        let line = format!(
            "method={} path={} status={} duration_ms={:.3}\n",
            req.method,
            req.uri.path(),
            status,
            started.elapsed().as_secs_f64() * 1000.0
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// A bootstrapped server listening on `listen` with `threads` worker
/// threads, proxying to `peer`.
pub fn server(listen: SocketAddr, peer: SocketAddr, threads: usize, access_log: bool) -> Server {
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..Default::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service =
        pingora::proxy::http_proxy_service(&server.configuration, BareProxy::new(peer, access_log));
    service.add_tcp(&listen.to_string());
    server.add_service(service);
    server
}
