//! Client-side request policy from `gateway.downstream`, compiled once per
//! generation: size limits checked before routing, the path normalisation
//! policy, and the per-session HTTP/1.x settings (keep-alive idle timeout,
//! pipelining).

use crate::config::DownstreamConfig;
use crate::hygiene::normalize::PathPolicy;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::time::Duration;

/// Why a request is refused before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitExceeded {
    /// The request target is longer than `max_uri_bytes` (414).
    Uri,
    /// The header section is larger than `max_header_bytes` (431).
    Headers,
}

impl LimitExceeded {
    /// The status the client gets.
    pub fn status(self) -> u16 {
        match self {
            LimitExceeded::Uri => 414,
            LimitExceeded::Headers => 431,
        }
    }
}

/// Compiled `gateway.downstream`.
#[derive(Debug, Clone)]
pub struct Downstream {
    /// Path normalisation applied before routing.
    pub path: PathPolicy,
    /// Time allowed for an HTTP/1.x request header.
    pub read_header_timeout: Duration,
    /// Idle keep-alive timeout in whole seconds (at least 1).
    keepalive_secs: u64,
    max_uri_bytes: usize,
    max_header_bytes: usize,
    max_headers: usize,
}

impl Downstream {
    /// Compiles the config block.
    pub fn new(cfg: &DownstreamConfig) -> Self {
        let keepalive = cfg.keepalive_timeout.0;
        let keepalive_secs = keepalive.as_secs() + u64::from(keepalive.subsec_nanos() > 0);
        Downstream {
            path: PathPolicy {
                merge_slashes: cfg.merge_slashes,
                escaped_slashes: cfg.escaped_slashes,
            },
            read_header_timeout: cfg.read_header_timeout.0,
            keepalive_secs: keepalive_secs.max(1),
            max_uri_bytes: cfg.max_uri_bytes.as_usize(),
            max_header_bytes: cfg.max_header_bytes.as_usize(),
            max_headers: cfg.max_headers,
        }
    }

    /// How long an idle HTTP/1.x keep-alive connection waits for its next
    /// request.
    pub fn keepalive_timeout(&self) -> Duration {
        Duration::from_secs(self.keepalive_secs)
    }

    /// Checks the request target and header size limits.
    pub fn check_limits(&self, req: &RequestHeader) -> Result<(), LimitExceeded> {
        if req.raw_path().len() > self.max_uri_bytes {
            return Err(LimitExceeded::Uri);
        }
        if req.headers.len() > self.max_headers {
            return Err(LimitExceeded::Headers);
        }
        // As on the wire: `name: value\r\n` per field.
        let mut size = 0usize;
        for (name, value) in &req.headers {
            size += name.as_str().len() + value.len() + 4;
            if size > self.max_header_bytes {
                return Err(LimitExceeded::Headers);
            }
        }
        Ok(())
    }

    /// Applies the HTTP/1.x connection settings to a client session: the
    /// idle keep-alive timeout (when the connection is kept alive at all)
    /// and in-order answers to pipelined requests.
    pub fn apply_to_session(&self, session: &mut Session) {
        if session.get_keepalive().is_some() {
            session.set_keepalive(Some(self.keepalive_secs));
        }
        session.set_pipelining_enabled(true);
    }
}

impl Default for Downstream {
    fn default() -> Self {
        Downstream::new(&DownstreamConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ByteSize;

    fn request(path: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", path.as_bytes(), None).unwrap();
        for (n, v) in headers {
            req.append_header(n.to_string(), *v).unwrap();
        }
        req
    }

    #[test]
    fn uri_and_header_limits_map_to_414_and_431() {
        let cfg = DownstreamConfig {
            max_uri_bytes: ByteSize(32),
            max_header_bytes: ByteSize(256),
            ..DownstreamConfig::default()
        };
        let d = Downstream::new(&cfg);
        assert_eq!(d.check_limits(&request("/short", &[("a", "b")])), Ok(()));
        let long = format!("/{}", "x".repeat(32));
        assert_eq!(
            d.check_limits(&request(&long, &[]))
                .map_err(LimitExceeded::status),
            Err(414)
        );
        let big = "v".repeat(250);
        assert_eq!(
            d.check_limits(&request("/", &[("x-big", &big)]))
                .map_err(LimitExceeded::status),
            Err(431)
        );
    }

    #[test]
    fn keepalive_rounds_up_to_whole_seconds() {
        let cfg = DownstreamConfig {
            keepalive_timeout: crate::config::HumanDuration(Duration::from_millis(1500)),
            ..DownstreamConfig::default()
        };
        assert_eq!(Downstream::new(&cfg).keepalive_secs, 2);
    }
}
