//! A config-driven API gateway on Pingora.
//!
//! See `docs/ARCHITECTURE.md` for the map of modules and the request path.

pub mod access_log;
pub mod admin;
pub mod body_rules;
pub mod cache;
pub mod client;
pub mod config;
pub mod downstream;
pub mod downstream_tls;
pub mod drain;
pub mod edge;
pub mod error_page;
pub mod error_response;
pub mod generation;
pub mod grpc;
pub mod header_timeout;
pub mod headers;
pub mod ip_rules;
pub mod keepalive;
pub mod limits;
pub mod listener_match;
pub mod metrics;
pub mod netlist;
pub mod normalize;
pub mod protocol_label;
pub mod proxy;
pub mod reload;
pub mod request_guard;
pub mod request_id;
pub mod request_target;
pub mod rewrite;
pub mod routing;
pub mod runtime_dir;
pub mod security;
pub mod server;
pub mod state;
pub mod upstream;
pub mod websocket;
