//! `cacheable`: cache headers from the scenario, a body carrying a version
//! that increases on every full origin response, and 304s for conditional
//! requests (`If-None-Match` or `If-Modified-Since`) that match the current
//! version. Requests can be parked until released, delayed, and the next
//! response forced to be a new version.

use super::{full, tagged, Behaviour, MockContext, MockResponse};
use async_trait::async_trait;
use hyper::body::Incoming;
use hyper::Request;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::Duration;
use tokio::sync::watch;

/// A versioned, cacheable resource.
#[derive(Debug)]
pub struct Cacheable {
    /// `Cache-Control` sent with every response.
    pub cache_control: String,
    /// Status of full responses (200 by default).
    pub status: u16,
    /// Extra headers sent with every response.
    pub headers: Vec<(String, String)>,
    /// Delay before answering.
    pub delay: Option<Duration>,
    version: AtomicU64,
    /// The current version changed: the next conditional request does not
    /// match it.
    bumped: AtomicBool,
    /// True while requests are parked.
    held: watch::Sender<bool>,
}

/// `Last-Modified` of every version (a fixed date keeps snapshots stable).
const LAST_MODIFIED: &str = "Mon, 02 Nov 2026 10:00:00 GMT";

impl Cacheable {
    /// A resource with this `Cache-Control`, answering at once with 200.
    pub fn new(cache_control: &str) -> Self {
        Cacheable {
            cache_control: cache_control.to_string(),
            status: 200,
            headers: Vec::new(),
            delay: None,
            version: AtomicU64::new(0),
            bumped: AtomicBool::new(false),
            held: watch::channel(false).0,
        }
    }

    /// Parks every request until [`Cacheable::release`].
    pub fn hold(self) -> Self {
        self.held.send_replace(true);
        self
    }

    /// Full responses sent so far (the current version).
    pub fn version(&self) -> u64 {
        self.version.load(SeqCst)
    }

    /// Lets parked requests go; later ones are answered at once.
    pub fn release(&self) {
        self.held.send_replace(false);
    }

    /// Makes the next response a full response with a new version, even to
    /// a conditional request that matched the old one.
    pub fn bump_version(&self) {
        self.bumped.store(true, SeqCst);
    }

    /// Whether the request's validators match the current version.
    fn not_modified(&self, req: &Request<Incoming>, current: u64) -> bool {
        if current == 0 || self.bumped.load(SeqCst) {
            return false;
        }
        let header = |name| {
            req.headers()
                .get(name)
                .and_then(|v: &http::HeaderValue| v.to_str().ok())
        };
        // If-None-Match takes precedence over If-Modified-Since (RFC 9110 13.2.2).
        match header(http::header::IF_NONE_MATCH) {
            Some(v) => v.split(',').any(|t| t.trim() == etag(current)),
            None => {
                header(http::header::IF_MODIFIED_SINCE).is_some_and(|v| v.trim() == LAST_MODIFIED)
            }
        }
    }
}

fn etag(version: u64) -> String {
    format!("\"v{version}\"")
}

#[async_trait]
impl Behaviour for Cacheable {
    async fn respond(&self, req: Request<Incoming>, ctx: &MockContext) -> MockResponse {
        let mut held = self.held.subscribe();
        let _ = held.wait_for(|h| !*h).await;
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        let current = self.version();
        let (status, version, body) = if self.not_modified(&req, current) {
            (304, current, full(""))
        } else {
            self.bumped.store(false, SeqCst);
            let v = self.version.fetch_add(1, SeqCst) + 1;
            (self.status, v, full(format!("version {v}")))
        };
        let mut resp = tagged(&ctx.name, status, body);
        let headers = resp.headers_mut();
        let standard = [
            ("cache-control", self.cache_control.clone()),
            ("etag", etag(version)),
            ("last-modified", LAST_MODIFIED.to_string()),
            ("x-version", version.to_string()),
        ];
        let extra = self.headers.iter().map(|(n, v)| (n.as_str(), v.clone()));
        for (name, value) in standard.into_iter().chain(extra) {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(&value),
            ) {
                headers.insert(n, v);
            }
        }
        resp
    }

    fn release(&self) -> bool {
        Cacheable::release(self);
        true
    }

    fn bump_version(&self) -> bool {
        Cacheable::bump_version(self);
        true
    }
}
