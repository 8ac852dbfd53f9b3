//! Active health checks (TCP or Unix socket connect, or an HTTP GET in the
//! cluster's protocol, see [`super::health_http`]). The background service
//! that runs them when due is `crate::control::health`.

use super::address;
use super::endpoint::Endpoint;
use super::health_http;
use crate::config::{HealthCheckConfig, HealthCheckKind};
use crate::observe::metrics::METRICS;
use async_trait::async_trait;
use pingora::lb::health_check::HealthCheck;
use pingora::lb::Backend;
use pingora::{Error, ErrorType, Result};
use std::sync::Arc;
use std::time::Duration;

/// One cluster pool's active health check.
pub struct ActiveCheck {
    cluster: String,
    kind: HealthCheckKind,
    path: String,
    /// `Host` of the check request; the endpoint's address when unset.
    host: Option<String>,
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
            host: cfg.host.clone(),
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
            let host = match &self.host {
                Some(host) => std::borrow::Cow::Borrowed(host.as_str()),
                None => std::borrow::Cow::Owned(address::default_host(&ep.addr)),
            };
            let response = health_http::exchange(ep, &self.path, &host).await?;
            self.judge(&response)
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Error::e_explain(ErrorType::ConnectTimedout, "health check timed out"),
        }
    }

    fn judge(&self, response: &health_http::CheckResponse) -> Result<()> {
        let status = response.status;
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
            if find(&response.body, needle.as_bytes()).is_none() {
                return Error::e_explain(
                    ErrorType::InvalidHTTPHeader,
                    format!("health check body lacks `{needle}`"),
                );
            }
        }
        Ok(())
    }
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
