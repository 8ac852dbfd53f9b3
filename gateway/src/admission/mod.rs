//! Stage 4, admission (`early_request_filter` for the client's address and
//! the global IP rules, `request_filter` for the rest): who the client is
//! ([`client`]: socket peer or the forwarded address behind trusted
//! proxies), IP allow/deny over CIDR lists ([`ip_rules`], [`netlist`]),
//! a route's size and body checks ([`request_guard`], [`body_rules`]),
//! authentication ([`auth`]) and traffic limits ([`limits`]). Each check
//! refuses with its own status (401, 403, 413, 429, 431, 503) through
//! `crate::response`.

pub mod auth;
pub mod body_rules;
pub mod client;
pub mod ip_rules;
pub mod limits;
pub mod netlist;
pub mod request_guard;
