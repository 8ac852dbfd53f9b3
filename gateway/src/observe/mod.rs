//! What the gateway reports about itself: the Prometheus registry and its
//! pre-resolved handles ([`metrics`], used by every stage), and the access
//! log ([`access_log`], written once per request from `logging`).

pub mod access_log;
pub mod metrics;
