//! Checks for `gateway.downstream`: limits must be usable and within what
//! Pingora itself enforces.

use super::model::{DownstreamConfig, MAX_READ_BUFFER};

/// Pingora refuses request headers larger than this before any hook runs
/// (`MAX_HEADER_SIZE` in pingora-core's HTTP/1 server), so a larger limit
/// could never apply.
pub const PINGORA_MAX_HEADER_BYTES: u64 = 1024 * 1024;

/// The first problem in `gateway.downstream`, as (key path, message).
pub(super) fn validate_downstream(d: &DownstreamConfig) -> Result<(), (String, String)> {
    let path = |key: &str| format!("gateway.downstream.{key}");
    if d.read_header_timeout.0.is_zero() {
        return Err((
            path("read_header_timeout"),
            "expected a duration above zero".into(),
        ));
    }
    if d.keepalive_timeout.0.is_zero() {
        return Err((
            path("keepalive_timeout"),
            "expected a duration of at least 1s".into(),
        ));
    }
    if d.max_requests_per_connection == Some(0) {
        return Err((
            path("max_requests_per_connection"),
            "expected at least 1 (leave it out for no limit)".into(),
        ));
    }
    if d.max_uri_bytes.0 < 16 {
        return Err((
            path("max_uri_bytes"),
            format!("{} is too small; expected at least 16", d.max_uri_bytes),
        ));
    }
    if d.max_header_bytes.0 < 256 || d.max_header_bytes.0 > PINGORA_MAX_HEADER_BYTES {
        return Err((
            path("max_header_bytes"),
            format!(
                "{} is out of range; expected 256 to {PINGORA_MAX_HEADER_BYTES} (1MiB, Pingora's own limit)",
                d.max_header_bytes
            ),
        ));
    }
    if d.read_buffer.0 > MAX_READ_BUFFER {
        return Err((
            path("read_buffer"),
            format!(
                "{} is too large; expected 0 to {MAX_READ_BUFFER} (1MiB)",
                d.read_buffer
            ),
        ));
    }
    Ok(())
}
