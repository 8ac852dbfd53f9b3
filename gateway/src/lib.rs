//! A config-driven API gateway on Pingora.
//!
//! The modules follow the request (see `docs/ARCHITECTURE.md`): `edge`
//! (connections, TLS, keep-alive) → `hygiene` (request id, target, path) →
//! `route` (match, rewrites, header rules) → `admission` (client, IP rules,
//! auth, limits) → `cache` → `upstream`, with `protocol` (gRPC, WebSocket),
//! `response` (the gateway's own answers) and `observe` (metrics, access
//! log) across phases, `control` (live state, reload, admin, health
//! checks) beside them and [`config`] below all of them. `proxy.rs` is the
//! one `ProxyHttp` impl that calls the stages in order; `server.rs`
//! assembles the Pingora server.
//!
//! The public surface is what the binary, the tests, the benches and the
//! fuzz targets use: the [`config`] model, [`Generation`] (a config
//! compiled for serving), [`build`] (the server) and, in [`parts`], the
//! pieces of the request path they drive directly.

#![forbid(unsafe_code)]

mod admission;
mod cache;
pub mod config;
mod control;
mod edge;
mod hygiene;
mod observe;
mod protocol;
mod proxy;
mod response;
mod route;
mod server;
mod upstream;

pub use control::generation::Generation;
pub use control::shutdown::{flush_at_exit, run_args};
pub use server::build;

/// Pieces of the request path that benches, property tests and fuzz
/// targets drive below the proxy. Not a stable API.
pub mod parts {
    pub use crate::admission::client::ClientConn;
    pub use crate::admission::limits::{
        check::admit, Clock, Decision, FakeClock, GcraLimiter, GcraPolicy, KeyInput, Permits,
        ShardedStore,
    };
    pub use crate::admission::netlist::NetList;
    pub use crate::cache::key::{cache_key, primary};
    pub use crate::hygiene::normalize::{normalize_path, PathPolicy};
    pub use crate::response::page;
    pub use crate::route::headers::HeaderRules;
    pub use crate::route::rewrite::{PathRewrite, QueryRewrite};
    pub use crate::upstream::Tried;
}
