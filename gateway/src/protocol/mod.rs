//! Protocol-specific behaviour across phases: gRPC calls and their status
//! ([`grpc`]: `early_request_filter` marks the call, `response_filter` and
//! `response_trailer_filter` read its status, `logging` counts it; a call
//! whose response already started is ended with trailers by
//! `crate::response::end_started`), WebSocket upgrades ([`websocket`]:
//! `upstream_peer` and `response_filter`), and the protocol label of
//! metrics ([`label`]: `logging`).

pub(crate) mod grpc;
pub(crate) mod label;
pub(crate) mod websocket;
