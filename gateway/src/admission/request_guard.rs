//! Per-route request checks before proxying: IP rules (403), header count
//! and size (431), body size (413, from `Content-Length` before reading,
//! or counted while streaming) and body rules (403).
//!
//! Body rules read up to `inspect_bytes` of the body in `request_filter`,
//! before the upstream request exists, through Pingora's retry buffer (at
//! most 64 KiB), which then replays those bytes to the upstream. A read
//! that could both overflow that buffer and end the body is not made there
//! (Pingora would then have nothing to send): the rest of the window is
//! held back in `request_body_filter` instead, after the upstream request
//! header went out, and a match aborts the upstream request before any
//! body byte reached it. Past the window the body streams unbuffered.

use crate::admission::body_rules::BodyRules;
use crate::admission::ip_rules::IpRules;
use crate::config::{ConfigError, DownstreamConfig, RouteConfig};
use bytes::{Bytes, BytesMut};
use http::header::CONTENT_LENGTH;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};
use std::net::IpAddr;
use std::sync::Arc;

/// What Pingora's request body retry buffer holds.
const REPLAY_BUFFER: u64 = 64 * 1024;

/// Largest body chunk one read can return.
const MAX_READ: u64 = 64 * 1024;

/// A route's compiled checks.
#[derive(Debug, Clone, Default)]
pub struct RouteGuard {
    ip: Option<IpRules>,
    max_body_bytes: Option<u64>,
    max_header_bytes: Option<usize>,
    max_headers: Option<usize>,
    body_rules: Option<Arc<BodyRules>>,
}

impl RouteGuard {
    /// Compiles route `index`; the body limit defaults to the global one.
    pub fn new(
        rc: &RouteConfig,
        global: &DownstreamConfig,
        name: &str,
        index: usize,
        file: &str,
    ) -> Result<Self, ConfigError> {
        let at = |key: String, msg: String| {
            ConfigError::at(file, format!("gateway.routes[{index}].{key}"), msg)
        };
        let ip = match &rc.ip {
            Some(cfg) => Some(IpRules::new(cfg).map_err(|(k, m)| at(format!("ip.{k}"), m))?),
            None => None,
        };
        let body_rules = match &rc.body_rules {
            Some(cfg) => Some(Arc::new(
                BodyRules::new(cfg, name).map_err(|(k, m)| at(format!("body_rules.{k}"), m))?,
            )),
            None => None,
        };
        Ok(RouteGuard {
            ip,
            max_body_bytes: rc.max_body_bytes.or(global.max_body_bytes).map(|b| b.0),
            max_header_bytes: rc.max_header_bytes.map(|b| b.as_usize()),
            max_headers: rc.max_headers,
            body_rules,
        })
    }

    /// Checks what the request head tells: client address, header fields,
    /// `Content-Length`. `Err` is the status to answer.
    pub fn check_head(&self, client: Option<IpAddr>, req: &RequestHeader) -> Result<(), u16> {
        if self.ip.as_ref().is_some_and(|r| !r.admits(client)) {
            return Err(403);
        }
        if self.max_headers.is_some_and(|max| req.headers.len() > max) {
            return Err(431);
        }
        if let Some(max) = self.max_header_bytes {
            // As on the wire: `name: value\r\n` per field.
            let mut size = 0usize;
            for (name, value) in &req.headers {
                size += name.as_str().len() + value.len() + 4;
                if size > max {
                    return Err(431);
                }
            }
        }
        if let (Some(max), Some(len)) = (self.max_body_bytes, content_length(req)) {
            if len > max {
                return Err(413);
            }
        }
        Ok(())
    }

    /// Whether the body needs watching while it streams.
    fn watches_body(&self) -> bool {
        self.max_body_bytes.is_some() || self.body_rules.is_some()
    }
}

fn content_length(req: &RequestHeader) -> Option<u64> {
    req.headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Per-request body state, carried from `request_filter` to
/// `request_body_filter`.
#[derive(Debug, Default)]
pub(crate) struct BodyGuard {
    active: bool,
    limit: Option<u64>,
    counted: u64,
    /// The upstream attempt the counts belong to (a retry replays the body).
    attempt: usize,
    /// Bytes read before proxying that the retry buffer could not keep:
    /// sent ahead of the next chunk.
    pending: Option<Bytes>,
    /// Rules whose window was not complete before proxying.
    tail: Option<Arc<BodyRules>>,
    /// The body's first bytes, as streamed, up to the window.
    scan: BytesMut,
    /// Bytes held back until the window is complete.
    held: BytesMut,
}

/// Reads the body-rule window of the request before proxying. `Ok(Some)`
/// is the status to answer (403 match, 413 too large).
pub(crate) async fn inspect_body(
    session: &mut Session,
    guard: &RouteGuard,
    state: &mut BodyGuard,
) -> Result<Option<u16>> {
    state.active = guard.watches_body();
    state.limit = guard.max_body_bytes;
    let Some(rules) = &guard.body_rules else {
        return Ok(None);
    };
    if session.as_mut().is_body_empty() {
        return Ok(None);
    }
    session.as_mut().enable_retry_buffering();
    let declared = content_length(session.req_header());
    let window = rules.inspect_bytes;
    let mut buf = BytesMut::new();
    while buf.len() < window && !session.as_mut().is_body_done() {
        let read = buf.len() as u64;
        let remaining = declared.map(|d| d.saturating_sub(read));
        if !may_read(read, remaining) {
            break;
        }
        // A failed read is the client's doing (bad framing, gone).
        match session
            .read_request_body()
            .await
            .map_err(|e| e.into_down())?
        {
            Some(chunk) => buf.extend_from_slice(&chunk),
            None => break,
        }
        if state.limit.is_some_and(|max| buf.len() as u64 > max) {
            return Ok(Some(413));
        }
    }
    if rules.refuses(&buf) {
        return Ok(Some(403));
    }
    let window_complete = buf.len() >= window || session.as_mut().is_body_done();
    if session.as_ref().retry_buffer_truncated() {
        if session.as_mut().is_body_done() {
            // Only possible when one read returned more than the retry
            // buffer holds (`read_buffer` above 64 KiB): Pingora would
            // have nothing to send, so the request cannot be proxied.
            log::debug!("body rules: the whole body arrived in one read above 64 KiB");
            return Ok(Some(413));
        }
        state.pending = Some(buf.freeze());
    }
    if !window_complete {
        state.tail = Some(rules.clone());
    }
    Ok(None)
}

/// Whether another read can be made before proxying without Pingora losing
/// bytes: either everything read so far stays within the retry buffer, or
/// the read cannot end the body (so the next chunk carries `pending`).
fn may_read(read: u64, remaining: Option<u64>) -> bool {
    match remaining {
        Some(rest) => read + rest <= REPLAY_BUFFER || rest > MAX_READ,
        // Chunked or HTTP/2 without a length: any read might end the body.
        None => read == 0,
    }
}

/// Counts, holds and checks body bytes on their way upstream.
pub(crate) fn filter_body(
    state: &mut BodyGuard,
    attempt: usize,
    data: &mut Option<Bytes>,
    end_of_body: bool,
) -> Result<()> {
    if !state.active {
        return Ok(());
    }
    if state.attempt != attempt {
        // A new upstream attempt: Pingora replays the body from its start.
        state.attempt = attempt;
        state.counted = 0;
        state.scan.clear();
        state.held.clear();
    }
    if let Some(pending) = state.pending.take() {
        *data = Some(match data.take() {
            Some(chunk) if !chunk.is_empty() => {
                let mut joined = BytesMut::with_capacity(pending.len() + chunk.len());
                joined.extend_from_slice(&pending);
                joined.extend_from_slice(&chunk);
                joined.freeze()
            }
            _ => pending,
        });
    }
    let len = data.as_ref().map_or(0, Bytes::len) as u64;
    state.counted += len;
    if state.limit.is_some_and(|max| state.counted > max) {
        return Err(Error::explain(
            ErrorType::HTTPStatus(413),
            "request body larger than max_body_bytes",
        )
        .into_down());
    }
    let Some(rules) = state.tail.clone() else {
        return Ok(());
    };
    if let Some(chunk) = data.take() {
        let room = rules.inspect_bytes.saturating_sub(state.scan.len());
        state
            .scan
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
        state.held.extend_from_slice(&chunk);
    }
    if state.scan.len() < rules.inspect_bytes && !end_of_body {
        *data = Some(Bytes::new());
        return Ok(());
    }
    state.tail = None;
    if rules.refuses(&state.scan) {
        return Err(Error::explain(
            ErrorType::HTTPStatus(403),
            "request body matched a body rule",
        )
        .into_down());
    }
    *data = Some(std::mem::take(&mut state.held).freeze());
    Ok(())
}

/// Whether `e` is a rejection raised while the body streamed (413, 403):
/// answered to the client, not a proxy failure worth an error log line.
pub(crate) fn is_rejection(e: &Error) -> bool {
    *e.esource() == pingora::ErrorSource::Downstream
        && matches!(e.etype(), ErrorType::HTTPStatus(403 | 413))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_never_both_overflow_the_replay_buffer_and_end_the_body() {
        assert!(may_read(0, Some(1000)));
        assert!(may_read(60_000, Some(5_536)));
        assert!(!may_read(60_000, Some(6_000)));
        assert!(may_read(60_000, Some(200_000)));
        assert!(may_read(0, None));
        assert!(!may_read(1, None));
    }

    fn tail_state(pattern: &str, window: u64) -> BodyGuard {
        let cfg = crate::config::security::BodyRulesConfig {
            deny: vec![pattern.into()],
            inspect_bytes: crate::config::ByteSize(window),
        };
        BodyGuard {
            active: true,
            tail: Some(Arc::new(BodyRules::new(&cfg, "unit-tail").unwrap())),
            ..BodyGuard::default()
        }
    }

    #[test]
    fn the_rest_of_the_window_is_held_back_then_released_whole() {
        let mut state = tail_state("evil", 8);
        let mut first = Some(Bytes::from_static(b"abc"));
        filter_body(&mut state, 1, &mut first, false).unwrap();
        assert_eq!(first.as_deref(), Some(&b""[..]), "held back");
        let mut second = Some(Bytes::from_static(b"defghij"));
        filter_body(&mut state, 1, &mut second, false).unwrap();
        assert_eq!(second.as_deref(), Some(&b"abcdefghij"[..]));
        // Past the window: streamed as is, unchecked.
        let mut later = Some(Bytes::from_static(b"evil"));
        filter_body(&mut state, 1, &mut later, true).unwrap();
        assert_eq!(later.as_deref(), Some(&b"evil"[..]));
    }

    #[test]
    fn a_match_in_the_held_window_fails_with_403_and_releases_nothing() {
        let mut state = tail_state("evil", 64);
        let mut first = Some(Bytes::from_static(b"ab ev"));
        filter_body(&mut state, 1, &mut first, false).unwrap();
        let mut last = Some(Bytes::from_static(b"il"));
        let err = filter_body(&mut state, 1, &mut last, true).unwrap_err();
        assert_eq!(err.etype(), &ErrorType::HTTPStatus(403));
        assert!(is_rejection(&err));
        assert!(last.is_none());
    }

    #[test]
    fn bytes_the_retry_buffer_lost_go_ahead_of_the_next_chunk() {
        let mut state = BodyGuard {
            active: true,
            pending: Some(Bytes::from_static(b"head-")),
            ..BodyGuard::default()
        };
        let mut chunk = Some(Bytes::from_static(b"tail"));
        filter_body(&mut state, 1, &mut chunk, true).unwrap();
        assert_eq!(chunk.as_deref(), Some(&b"head-tail"[..]));
    }

    #[test]
    fn streamed_bytes_over_the_limit_fail_with_413() {
        let mut state = BodyGuard {
            active: true,
            limit: Some(10),
            ..BodyGuard::default()
        };
        let mut chunk = Some(Bytes::from_static(b"12345678"));
        filter_body(&mut state, 1, &mut chunk, false).unwrap();
        let mut more = Some(Bytes::from_static(b"abc"));
        let err = filter_body(&mut state, 1, &mut more, false).unwrap_err();
        assert_eq!(err.etype(), &ErrorType::HTTPStatus(413));
        // A retry replays from the start and is counted afresh.
        let mut replay = Some(Bytes::from_static(b"12345678"));
        filter_body(&mut state, 2, &mut replay, true).unwrap();
    }
}
