//! `cacheable`: cache headers from the scenario, a body carrying a version
//! that increases on every full origin response, and 304s for conditional
//! requests that match the current version.

use super::{full, tagged, Behaviour, MockContext, MockResponse};
use async_trait::async_trait;
use hyper::body::Incoming;
use hyper::Request;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// A versioned, cacheable resource.
#[derive(Debug)]
pub struct Cacheable {
    /// `Cache-Control` sent with every response.
    pub cache_control: String,
    version: AtomicU64,
}

/// `Last-Modified` of every version (a fixed date keeps snapshots stable).
const LAST_MODIFIED: &str = "Mon, 02 Nov 2026 10:00:00 GMT";

impl Cacheable {
    /// A resource with this `Cache-Control`.
    pub fn new(cache_control: &str) -> Self {
        Cacheable {
            cache_control: cache_control.to_string(),
            version: AtomicU64::new(0),
        }
    }

    /// Full responses sent so far (the current version).
    pub fn version(&self) -> u64 {
        self.version.load(SeqCst)
    }
}

fn etag(version: u64) -> String {
    format!("\"v{version}\"")
}

#[async_trait]
impl Behaviour for Cacheable {
    async fn respond(&self, req: Request<Incoming>, ctx: &MockContext) -> MockResponse {
        let current = self.version();
        let matches = req
            .headers()
            .get(http::header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| current > 0 && v.split(',').any(|t| t.trim() == etag(current)));
        let (status, version, body) = if matches {
            (304, current, full(""))
        } else {
            let v = self.version.fetch_add(1, SeqCst) + 1;
            (200, v, full(format!("version {v}")))
        };
        let mut resp = tagged(&ctx.name, status, body);
        let headers = resp.headers_mut();
        for (name, value) in [
            ("cache-control", self.cache_control.clone()),
            ("etag", etag(version)),
            ("last-modified", LAST_MODIFIED.to_string()),
            ("x-version", version.to_string()),
        ] {
            if let Ok(v) = http::HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        resp
    }
}
