//! Responses for errors the gateway itself produces (no route, no healthy
//! endpoint, upstream failures, timeouts): JSON by default, or a per-route
//! template.

use bytes::Bytes;
use std::path::Path;

/// A custom error page template.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    template: String,
    content_type: String,
}

impl ErrorPage {
    /// Reads the template file.
    pub fn load(path: &Path, content_type: &str) -> std::io::Result<Self> {
        Ok(ErrorPage {
            template: std::fs::read_to_string(path)?,
            content_type: content_type.to_string(),
        })
    }
}

/// A rendered error body and its content type.
pub struct ErrorBody {
    /// `Content-Type` value.
    pub content_type: String,
    /// The body.
    pub body: Bytes,
}

/// Short, stable description of an error status.
pub fn reason(status: u16) -> &'static str {
    match status {
        400 => "bad request",
        401 => "authentication required",
        403 => "forbidden",
        404 => "no route matches the request",
        405 => "method not allowed",
        413 => "request body too large",
        414 => "request target too long",
        429 => "too many requests",
        431 => "request header fields too large",
        500 => "internal gateway error",
        502 => "upstream failed",
        503 => "no healthy upstream endpoint",
        504 => "upstream timed out",
        _ => "error",
    }
}

/// Renders the error body: the page's template, or the default JSON.
pub fn render(page: Option<&ErrorPage>, status: u16, request_id: &str) -> ErrorBody {
    render_with_reason(page, status, reason(status), request_id)
}

/// [`render`] with an `error` text other than the status's usual one.
pub fn render_with_reason(
    page: Option<&ErrorPage>,
    status: u16,
    error: &str,
    request_id: &str,
) -> ErrorBody {
    match page {
        Some(p) => ErrorBody {
            content_type: p.content_type.clone(),
            body: Bytes::from(
                p.template
                    .replace("{{status}}", &status.to_string())
                    .replace("{{error}}", error)
                    .replace("{{request_id}}", request_id),
            ),
        },
        None => ErrorBody {
            content_type: "application/json".into(),
            body: Bytes::from(
                serde_json::json!({ "error": error, "status": status, "request_id": request_id })
                    .to_string(),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_body_is_json_with_request_id() {
        let b = render(None, 503, "abc");
        assert_eq!(b.content_type, "application/json");
        let v: serde_json::Value = serde_json::from_slice(&b.body).unwrap();
        assert_eq!(v["status"], 503);
        assert_eq!(v["request_id"], "abc");
        assert_eq!(v["error"], "no healthy upstream endpoint");
    }

    #[test]
    fn templates_are_filled_in() {
        let page = ErrorPage {
            template: "<h1>{{status}}</h1>{{error}} {{request_id}}".into(),
            content_type: "text/html".into(),
        };
        let b = render(Some(&page), 404, "r1");
        assert_eq!(&b.body[..], b"<h1>404</h1>no route matches the request r1");
    }
}
