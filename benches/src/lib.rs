//! Shared pieces of the proxy comparisons: the bare Pingora proxy (the
//! framework's floor), an in-process origin and client, and helpers that run
//! a Pingora server on a plain thread or nginx/haproxy as child processes.
//!
//! `cargo xtask bench` drives the same comparison from outside with wrk;
//! `benches/proxies.rs` drives it in-process with criterion.

pub mod bare;
pub mod client;
pub mod external;
pub mod inproc;
pub mod origin;
