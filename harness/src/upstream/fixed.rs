//! `fixed`: a fixed status, headers and body.

use super::{full, tagged, Behaviour, MockContext, MockResponse};
use async_trait::async_trait;
use hyper::body::Incoming;
use hyper::Request;

/// Answers every request the same way.
#[derive(Debug, Clone)]
pub struct Fixed {
    /// Response status.
    pub status: u16,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: String,
}

impl Fixed {
    /// 200 with `body`.
    pub fn ok(body: &str) -> Self {
        Fixed {
            status: 200,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    /// `status` with a short body.
    pub fn status(status: u16) -> Self {
        Fixed {
            status,
            headers: Vec::new(),
            body: format!("status {status}"),
        }
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

#[async_trait]
impl Behaviour for Fixed {
    async fn respond(&self, _req: Request<Incoming>, ctx: &MockContext) -> MockResponse {
        let mut resp = tagged(&ctx.name, self.status, full(self.body.clone()));
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                resp.headers_mut().append(k, v);
            }
        }
        resp
    }
}
