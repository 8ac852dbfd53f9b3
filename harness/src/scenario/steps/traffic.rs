//! `traffic`: a batch of requests, checked at once. Its keys are also those
//! of `background_traffic` (`background_traffic.rs`), which shares the
//! client load built here.

use super::kind::{Problem, StepKind};
use crate::scenario::context::RunContext;
use crate::scenario::expect::Expect;
use crate::scenario::mock::Upstreams;
use crate::scenario::values::{
    default_background, default_concurrency, default_listener, default_path, default_timeout,
    duration, RequestRate,
};
use crate::traffic::{self, ClientTls, TrafficSpec};
use async_trait::async_trait;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// A batch of requests (`traffic`) or load in the background
/// (`background_traffic`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficStep {
    /// How many (required for `traffic`; the cap for background load).
    #[serde(default)]
    pub requests: Option<usize>,
    /// Background load: name used by `join` and `wait_until`.
    #[serde(default = "default_background")]
    pub name: String,
    /// Background load: upper bound on time.
    #[serde(default = "default_background_time", deserialize_with = "duration")]
    pub max_time: Duration,
    /// Path and query.
    #[serde(default = "default_path")]
    pub path: String,
    /// Method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default)]
    pub body: Option<String>,
    /// A request body of this many bytes (`x`), instead of `body`.
    #[serde(default)]
    pub body_size: Option<usize>,
    /// Send the body chunked (no `Content-Length`), 1 KiB per chunk.
    #[serde(default)]
    pub chunked: bool,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// HTTP/2 with prior knowledge.
    #[serde(default)]
    pub http2: bool,
    /// Reuse client connections.
    #[serde(default)]
    pub keepalive: bool,
    /// Which `${port.NAME}` listener (default `proxy`).
    #[serde(default = "default_listener")]
    pub listener: String,
    /// Per-request timeout.
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// HTTPS to the listener, verified with the test CA.
    #[serde(default)]
    pub tls: Option<ClientTlsSpec>,
    /// Paced sending (`30/s`): request `i` starts `i / rate` after the first.
    #[serde(default)]
    pub rate: Option<RequestRate>,
    /// What must hold afterwards (`traffic` only).
    #[serde(default)]
    pub expect: Expect,
}

/// HTTPS client settings: the test CA verifies the gateway's certificate
/// for `server_name`, which is sent as SNI while connecting to 127.0.0.1.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTlsSpec {
    /// Server name sent and verified (default `localhost`); an IP address
    /// sends no SNI.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Which client certificate to present.
    #[serde(default)]
    pub client_cert: ClientCertChoice,
}

/// A client certificate from [`crate::certs::TestCerts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientCertChoice {
    /// None.
    #[default]
    None,
    /// Signed by the test CA (CN `gateway-client`).
    Test,
    /// Signed by the unrelated CA (CN `other-client`).
    Other,
}

fn default_method() -> String {
    "GET".into()
}

fn default_background_time() -> Duration {
    Duration::from_secs(60)
}

#[async_trait]
impl StepKind for TrafficStep {
    fn describe(&self) -> String {
        let pace = self.rate.map(|r| format!(", {r}")).unwrap_or_default();
        format!(
            "traffic {} x {} {} (concurrency {}{pace})",
            self.requests.unwrap_or(0),
            self.method,
            self.path,
            self.concurrency
        )
    }

    fn check(&self, _upstreams: &Upstreams) -> Result<(), Problem> {
        if self.requests.is_none() {
            return Err((
                "requests".into(),
                "a traffic step needs a request count".into(),
            ));
        }
        check_body(self)
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<String, String> {
        let before = ctx.hits();
        let spec = traffic_spec(ctx, self, self.requests.unwrap_or(0))?;
        let summary = traffic::run(&spec).await?;
        ctx.record_sent(&summary, &self.listener);
        ctx.check(&self.expect, &summary, &before)
    }
}

/// `body` and `body_size` exclude each other; `chunked` needs one of them.
pub(super) fn check_body(t: &TrafficStep) -> Result<(), Problem> {
    if t.body.is_some() && t.body_size.is_some() {
        return Err((
            "body_size".into(),
            "give either `body` or `body_size`, not both".into(),
        ));
    }
    if t.chunked && t.body.is_none() && t.body_size.is_none() {
        return Err((
            "chunked".into(),
            "a chunked request needs `body` or `body_size`".into(),
        ));
    }
    Ok(())
}

/// The client load `t` describes: `requests` requests to its listener.
pub(super) fn traffic_spec(
    ctx: &RunContext,
    t: &TrafficStep,
    requests: usize,
) -> Result<TrafficSpec, String> {
    let addr = ctx.listener_addr(&t.listener)?;
    let port = addr.port();
    let own = |(cert, key): (&Path, &Path)| (cert.to_path_buf(), key.to_path_buf());
    // The test server certificate names `localhost`.
    let server_name = t
        .tls
        .as_ref()
        .and_then(|spec| spec.server_name.clone())
        .unwrap_or_else(|| "localhost".into());
    let tls = t.tls.as_ref().map(|spec| ClientTls {
        ca: ctx.certs.ca().to_path_buf(),
        identity: match spec.client_cert {
            ClientCertChoice::None => None,
            ClientCertChoice::Test => Some(own((ctx.certs.client_cert(), ctx.certs.client_key()))),
            ClientCertChoice::Other => Some(own(ctx.certs.other_client())),
        },
        resolve: Some((server_name.clone(), addr)),
    });
    let base = match tls {
        Some(_) if server_name.contains(':') => format!("https://[{server_name}]:{port}"),
        Some(_) => format!("https://{server_name}:{port}"),
        None => format!("http://127.0.0.1:{port}"),
    };
    Ok(TrafficSpec {
        base,
        tls,
        path: t.path.clone(),
        method: t
            .method
            .parse()
            .map_err(|_| format!("`{}` is not a method", t.method))?,
        headers: t
            .headers
            .iter()
            .map(|(k, v)| Ok((k.clone(), ctx.expand_run_vars(v)?)))
            .collect::<Result<_, String>>()?,
        body: t
            .body
            .clone()
            .or_else(|| t.body_size.map(|n| "x".repeat(n))),
        chunked: t.chunked,
        requests,
        concurrency: t.concurrency,
        http2: t.http2,
        keepalive: t.keepalive,
        timeout: t.timeout,
        rate: t.rate.map(|r| r.per_second),
    })
}
