//! A config-driven API gateway on Pingora.
//!
//! The modules follow the request (see `docs/ARCHITECTURE.md`):
//! [`edge`] (connections, TLS) → `hygiene` → `route` → `admission` →
//! `cache` → `upstream`, with `protocol`, `response` and `observe` across
//! phases, `control` (live state, reload, admin) beside them and `config`
//! below all of them. `proxy.rs` is the one `ProxyHttp` impl that calls the
//! stages in order; `server.rs` assembles the Pingora server.

pub mod admission;
pub mod cache;
pub mod config;
pub mod control;
pub mod edge;
pub mod hygiene;
pub mod observe;
pub mod protocol;
pub mod proxy;
pub mod response;
pub mod route;
pub mod server;
pub mod upstream;
