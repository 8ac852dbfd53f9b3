//! The gateway's integration tests, one binary: one module per area, all
//! sharing `common` (compiled and linked once instead of once per file).
//! Most tests start the real binary against mock upstreams on loopback; the
//! harness never hands out a port twice in this process, so modules run in
//! parallel safely.
//!
//! Insta snapshots live in `snapshots/` beside this file, named
//! `it__<module>__<name>.snap`; proptest regressions sit beside their module
//! (`<module>.proptest-regressions`).

// The whole crate is tests: `allow-unwrap-in-tests` (clippy.toml) covers
// `#[test]` functions only, not the helpers beside them.
#![allow(clippy::unwrap_used)]

mod common;

mod access_log;
mod admin;
mod auth;
mod balancing;
mod cache;
mod client_abort;
mod config_errors;
mod config_properties;
mod config_watch;
mod curl_interop;
mod downstream;
mod downstream_tls;
mod drain;
mod edge;
mod errors;
mod fuzz_corpus;
mod gcra_properties;
mod graceful;
mod grpc;
mod health;
mod health_gauge;
mod hostile_h1;
mod hostile_h2;
mod limits;
mod path_normalisation;
mod protocols;
mod proxy_protocol;
mod reload;
mod retries;
mod routing;
mod security;
mod sticky;
mod uds;
mod upstream_tls;
mod websocket;
mod websocket_tls;
