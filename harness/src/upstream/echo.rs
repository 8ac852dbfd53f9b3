//! `echo`: 200 with a JSON description of the request.

use super::{full, tagged, Behaviour, MockContext, MockResponse};
use async_trait::async_trait;
use http_body_util::BodyExt;
use hyper::body::Body;
use hyper::body::Incoming;
use hyper::Request;

/// Describes each request as JSON: upstream, method, HTTP version, path,
/// query, headers (lower-case names, values joined by `, `), body length.
/// Each non-empty request body read to its end is counted
/// ([`MockContext::count_complete_body`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

#[async_trait]
impl Behaviour for Echo {
    async fn respond(&self, req: Request<Incoming>, ctx: &MockContext) -> MockResponse {
        let (parts, body) = req.into_parts();
        let has_body = !body.is_end_stream();
        let body_len = match body.collect().await {
            Ok(b) => {
                if has_body {
                    ctx.count_complete_body();
                }
                b.to_bytes().len()
            }
            Err(_) => 0,
        };
        let mut headers = serde_json::Map::new();
        for key in parts.headers.keys() {
            let values: Vec<&str> = parts
                .headers
                .get_all(key)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            headers.insert(key.as_str().to_string(), values.join(", ").into());
        }
        let doc = serde_json::json!({
            "upstream": ctx.name,
            "method": parts.method.as_str(),
            "version": format!("{:?}", parts.version),
            "path": parts.uri.path(),
            "query": parts.uri.query(),
            "headers": headers,
            "body_len": body_len,
        });
        let mut resp = tagged(&ctx.name, 200, full(doc.to_string()));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        resp
    }
}
