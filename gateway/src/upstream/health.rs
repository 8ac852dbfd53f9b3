//! Active health checks (TCP or Unix socket connect, or HTTP/1.1 GET, over
//! TLS on TLS clusters) and the background service that runs them at each
//! cluster's interval.

use super::address;
use super::endpoint::Endpoint;
use crate::config::{HealthCheckConfig, HealthCheckKind};
use crate::metrics::METRICS;
use crate::state::GatewayState;
use async_trait::async_trait;
use pingora::connectors::TransportConnector;
use pingora::lb::health_check::HealthCheck;
use pingora::lb::Backend;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use pingora::{Error, ErrorType, Result};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest HTTP health response read; the rest is ignored.
const MAX_CHECK_RESPONSE: usize = 64 * 1024;

/// How often the service looks for clusters whose check is due.
const SCHEDULER_TICK: Duration = Duration::from_millis(50);

/// One cluster pool's active health check.
pub struct ActiveCheck {
    cluster: String,
    kind: HealthCheckKind,
    path: String,
    /// The request when `host` is configured; built per endpoint otherwise.
    fixed_request: Option<Vec<u8>>,
    expect_status: Option<u16>,
    expect_body: Option<String>,
    timeout: Duration,
    healthy_after: usize,
    unhealthy_after: usize,
    endpoints: Arc<Vec<Endpoint>>,
}

impl ActiveCheck {
    /// Builds the check for the pool holding `endpoints`.
    pub fn new(cluster: &str, cfg: &HealthCheckConfig, endpoints: Arc<Vec<Endpoint>>) -> Self {
        let path = cfg.path.clone().unwrap_or_else(|| "/".into());
        ActiveCheck {
            cluster: cluster.to_string(),
            kind: cfg.kind,
            fixed_request: cfg.host.as_deref().map(|host| check_request(&path, host)),
            path,
            expect_status: cfg.expect_status,
            expect_body: cfg.expect_body.clone(),
            timeout: cfg.timeout.0,
            healthy_after: cfg.healthy_after,
            unhealthy_after: cfg.unhealthy_after,
            endpoints,
        }
    }

    fn endpoint(&self, target: &Backend) -> Option<&Endpoint> {
        let key = target.addr.as_inet()?;
        self.endpoints.iter().find(|e| &e.balancer_key == key)
    }

    async fn probe(&self, target: &Backend) -> Result<()> {
        let ep = self
            .endpoint(target)
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "unknown endpoint"))?;
        let work = async {
            if self.kind == HealthCheckKind::Tcp {
                return address::connect(&ep.addr).await;
            }
            let mut stream = connect_for_http(ep).await?;
            let request = match &self.fixed_request {
                Some(r) => std::borrow::Cow::Borrowed(r),
                None => std::borrow::Cow::Owned(check_request(
                    &self.path,
                    &address::default_host(&ep.addr),
                )),
            };
            stream
                .write_all(&request)
                .await
                .map_err(|e| Error::because(ErrorType::WriteError, "health check write", e))?;
            let mut response = Vec::with_capacity(1024);
            let mut chunk = [0u8; 4096];
            while response.len() < MAX_CHECK_RESPONSE {
                match stream.read(&mut chunk).await {
                    Ok(0) => break,
                    Ok(n) => response.extend_from_slice(&chunk[..n]),
                    // A TLS server closing without close_notify after its
                    // answer: judge what arrived.
                    Err(_) if !response.is_empty() => break,
                    Err(e) => {
                        return Err(Error::because(ErrorType::ReadError, "health check read", e))
                    }
                }
            }
            self.judge(&response)
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Error::e_explain(ErrorType::ConnectTimedout, "health check timed out"),
        }
    }

    fn judge(&self, response: &[u8]) -> Result<()> {
        let status = parse_status(response).ok_or_else(|| {
            Error::explain(
                ErrorType::InvalidHTTPHeader,
                "health check got no HTTP status line",
            )
        })?;
        let status_ok = match self.expect_status {
            Some(expected) => status == expected,
            None => (200..400).contains(&status),
        };
        if !status_ok {
            return Error::e_explain(
                ErrorType::HTTPStatus(status),
                format!("health check got status {status}"),
            );
        }
        if let Some(needle) = &self.expect_body {
            let body_start = find(response, b"\r\n\r\n").map_or(response.len(), |i| i + 4);
            if find(&response[body_start..], needle.as_bytes()).is_none() {
                return Error::e_explain(
                    ErrorType::InvalidHTTPHeader,
                    format!("health check body lacks `{needle}`"),
                );
            }
        }
        Ok(())
    }
}

/// A new connection for an HTTP check, made as the proxy makes them (TCP or
/// Unix socket; over TLS with the cluster's CA, client certificate, server
/// name and verification), offering only HTTP/1.1. Never pooled: a failed
/// TLS handshake fails the check.
async fn connect_for_http(ep: &Endpoint) -> Result<pingora::protocols::Stream> {
    static CONNECTOR: OnceLock<TransportConnector> = OnceLock::new();
    let mut peer = ep.peer.clone();
    peer.options.set_http_version(1, 1);
    CONNECTOR
        .get_or_init(|| TransportConnector::new(None))
        .new_stream(&peer)
        .await
}

fn check_request(path: &str, host: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: gateway-health-check\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

fn parse_status(response: &[u8]) -> Option<u16> {
    let line_end = find(response, b"\r\n")?;
    let line = std::str::from_utf8(&response[..line_end]).ok()?;
    let mut parts = line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[async_trait]
impl HealthCheck for ActiveCheck {
    async fn check(&self, target: &Backend) -> Result<()> {
        let result = self.probe(target).await;
        if result.is_ok() {
            if let Some(ep) = self.endpoint(target) {
                if ep.passive.on_check_success() {
                    log::info!(
                        "cluster {} endpoint {} passed a health check; passive ejection ended",
                        self.cluster,
                        ep.label
                    );
                    // Still 0 if the checks have not yet made it healthy
                    // (`healthy_after`): it is not selectable before that.
                    ep.refresh_gauge();
                }
            }
        }
        result
    }

    async fn health_status_change(&self, target: &Backend, healthy: bool) {
        let Some(ep) = self.endpoint(target) else {
            return;
        };
        // Count first: whoever sees the gauge move also sees the transition.
        METRICS
            .health_transitions
            .with_label_values(&[
                self.cluster.as_str(),
                ep.label.as_str(),
                if healthy { "healthy" } else { "unhealthy" },
            ])
            .inc();
        ep.set_active_health(healthy);
    }

    fn backend_summary(&self, target: &Backend) -> String {
        match self.endpoint(target) {
            Some(ep) => format!(
                "cluster {} endpoint {} ({})",
                self.cluster, ep.label, ep.addr
            ),
            None => format!("cluster {} endpoint {:?}", self.cluster, target.addr),
        }
    }

    fn health_threshold(&self, success: bool) -> usize {
        if success {
            self.healthy_after
        } else {
            self.unhealthy_after
        }
    }
}

/// Background service that runs each cluster's checks when they are due,
/// following config reloads.
pub struct HealthService {
    state: Arc<GatewayState>,
}

impl HealthService {
    /// A service over the gateway's state.
    pub fn new(state: Arc<GatewayState>) -> Self {
        Self { state }
    }
}

#[async_trait]
impl BackgroundService for HealthService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            let generation = self.state.current();
            for cluster in generation.clusters.values() {
                cluster.end_expired_ejections();
                if cluster.health_check_due() {
                    let cluster = cluster.clone();
                    tokio::spawn(async move { cluster.run_health_check().await });
                }
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(SCHEDULER_TICK) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 204 No Content\r\n\r\n"), Some(204));
        assert_eq!(parse_status(b"HTTP/1.0 503\r\n"), Some(503));
        assert_eq!(parse_status(b"garbage\r\n"), None);
        assert_eq!(parse_status(b"HTTP/1.1 200 OK"), None);
    }
}
