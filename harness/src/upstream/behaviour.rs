//! How a mock upstream answers a request.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::time::Duration;

/// A mock's response behaviour.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// A fixed status, headers and body.
    Fixed {
        /// Response status.
        status: u16,
        /// Extra response headers.
        headers: Vec<(String, String)>,
        /// Response body.
        body: String,
    },
    /// 200 with a JSON body describing the request: method, HTTP version, path, query,
    /// headers (lower-case names, values joined by `, `) and body length.
    Echo,
    /// Waits, then behaves like `then`.
    Slow {
        /// Delay before the response headers.
        delay: Duration,
        /// What to answer after the delay.
        then: Box<Behaviour>,
    },
}

impl Behaviour {
    /// 200 with `body`.
    pub fn ok(body: &str) -> Self {
        Behaviour::Fixed {
            status: 200,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    /// `status` with a short body.
    pub fn status(status: u16) -> Self {
        Behaviour::Fixed {
            status,
            headers: Vec::new(),
            body: format!("status {status}"),
        }
    }

    /// Answers `req` as mock `name`.
    pub async fn respond(self, name: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let mut behaviour = self;
        loop {
            match behaviour {
                Behaviour::Slow { delay, then } => {
                    tokio::time::sleep(delay).await;
                    behaviour = *then;
                }
                Behaviour::Fixed {
                    status,
                    headers,
                    body,
                } => {
                    let mut resp = tagged(name, status, Bytes::from(body));
                    for (k, v) in headers {
                        if let (Ok(k), Ok(v)) = (
                            http::HeaderName::from_bytes(k.as_bytes()),
                            http::HeaderValue::from_str(&v),
                        ) {
                            resp.headers_mut().append(k, v);
                        }
                    }
                    return resp;
                }
                Behaviour::Echo => return echo(name, req).await,
            }
        }
    }
}

async fn echo(name: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body_len = body
        .collect()
        .await
        .map(|b| b.to_bytes().len())
        .unwrap_or(0);
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
        "upstream": name,
        "method": parts.method.as_str(),
        "version": format!("{:?}", parts.version),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body_len": body_len,
    });
    let mut resp = tagged(name, 200, Bytes::from(doc.to_string()));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// A response with `x-upstream: name`.
pub fn tagged(name: &str, status: u16, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(name) {
        resp.headers_mut().insert("x-upstream", v);
    }
    resp
}
