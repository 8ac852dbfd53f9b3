//! Shared helpers for the gateway's integration tests: every test runs the
//! real binary against mock upstreams on loopback.
#![allow(dead_code)]

pub(crate) mod h2raw;
pub(crate) mod raw;
pub(crate) mod recorder;

use harness::{GatewayProcess, Template};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The binary under test.
pub(crate) fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gateway"))
}

/// Server keys and listeners shared by the test configs; `body` holds the
/// `clusters:` and `routes:` sections, indented under `gateway:`.
pub(crate) fn config(body: &str) -> String {
    let mut text = String::from(
        "version: 1\nthreads: 1\ngrace_period_seconds: 1\ngraceful_shutdown_timeout_seconds: 1\n\
         gateway:\n  listeners: [ { address: \"127.0.0.1:${port.proxy}\" } ]\n  admin: { address: \"127.0.0.1:${port.admin}\" }\n",
    );
    for line in body.trim_matches('\n').lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// `yaml` (from [`config`]) with `gateway.shutdown.drain_delay` set: tests
/// of what happens once the listeners stop use `0s`, so SIGTERM stops them
/// at once as it did before the drain delay existed.
pub(crate) fn with_drain_delay(yaml: &str, delay: &str) -> String {
    yaml.replacen(
        "gateway:\n",
        &format!("gateway:\n  shutdown: {{ drain_delay: {delay} }}\n"),
        1,
    )
}

/// Starts the gateway on `template`, panicking with its log on failure.
pub(crate) async fn start(template: &Template) -> GatewayProcess {
    match GatewayProcess::start(binary(), template).await {
        Ok(gw) => gw,
        Err(e) => panic!("gateway did not start: {e}"),
    }
}

/// A client with a bounded timeout so a hang fails the test.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// A response reduced to what tests look at.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    /// The `x-upstream` header the mocks set.
    pub(crate) fn upstream(&self) -> &str {
        self.headers
            .get("x-upstream")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    /// A response header.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request.
pub(crate) async fn send(client: &reqwest::Client, req: reqwest::RequestBuilder) -> Reply {
    let _ = client;
    let resp = req
        .send()
        .await
        .expect("request failed at the transport level");
    Reply {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap_or_default(),
    }
}

/// GET `path` with optional headers.
pub(crate) async fn get(gw: &GatewayProcess, path: &str, headers: &[(&str, &str)]) -> Reply {
    let client = client();
    let mut req = client.get(gw.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(&client, req).await
}

/// Sends `n` sequential GETs and counts responses by `x-upstream`
/// (`status:NNN` for responses without it).
pub(crate) async fn tally(gw: &GatewayProcess, path: &str, n: usize) -> BTreeMap<String, usize> {
    let client = client();
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let r = send(&client, client.get(gw.url(path))).await;
        let key = if r.status == 200 {
            r.upstream().to_string()
        } else {
            format!("status:{}", r.status)
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}
