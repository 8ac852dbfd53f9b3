//! Protocol-specific behaviour across phases: gRPC calls and their status
//! ([`grpc`]: `early_request_filter` marks the call, `response_filter` and
//! `response_trailer_filter` read its status, `fail_to_proxy` ends it with
//! trailers), WebSocket upgrades ([`websocket`]: `upstream_peer` and
//! `response_filter`), and the protocol label of metrics ([`label`]:
//! `logging`).

pub mod grpc;
pub mod label;
pub mod websocket;
