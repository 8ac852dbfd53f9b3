//! The one builder for responses the gateway writes itself: rejections
//! (400, 401, 403, 404, 413, 429, 431, 503) and proxy failures (502, 504).
//!
//! A request decides the form of its error: `application/grpc*` requests get
//! a gRPC "trailers-only" answer (HTTP 200 with `grpc-status` and
//! `grpc-message`), every other request the route's error page or the
//! default JSON body. Extra headers (`Retry-After`, `WWW-Authenticate`,
//! `RateLimit`, ...) are carried by the builder in both forms.

use crate::hygiene::request_id::X_REQUEST_ID;
use crate::response::page::{self, ErrorPage};
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use pingora::Result;

/// A response the gateway writes itself.
#[derive(Debug, Clone)]
pub struct ErrorResponse {
    status: u16,
    headers: Vec<(HeaderName, HeaderValue)>,
    keep_alive: bool,
    reason: Option<&'static str>,
}

impl ErrorResponse {
    /// An error with `status`, keeping the client connection when the whole
    /// request body has been read.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            keep_alive: true,
            reason: None,
        }
    }

    /// Replaces the status's usual `error` text (and gRPC message), e.g. a
    /// 503 that is an overload rather than an upstream outage.
    pub fn reason(mut self, text: &'static str) -> Self {
        self.reason = Some(text);
        self
    }

    /// Adds a header (`Retry-After`, `WWW-Authenticate`, ...).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Ends the client connection after this response (`Connection: close`).
    pub fn close(mut self) -> Self {
        self.keep_alive = false;
        self
    }

    /// The HTTP status (what the client sees unless the form is gRPC).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Writes the response in the request's form and ends it.
    pub async fn write(
        self,
        session: &mut Session,
        page: Option<&ErrorPage>,
        request_id: &str,
    ) -> Result<()> {
        let form = ErrorForm::of(session.req_header());
        let (head, body) = self.render(form, page, request_id)?;
        let keep = self.keep_alive && request_fully_read(session);
        if !keep {
            session.set_keepalive(None);
        }
        match body {
            None => session.write_response_header(Box::new(head), true).await,
            Some(body) => {
                session.write_response_header(Box::new(head), false).await?;
                session.write_response_body(Some(body), true).await
            }
        }
    }

    /// The response head and body (none for gRPC's trailers-only form).
    pub fn render(
        &self,
        form: ErrorForm,
        page: Option<&ErrorPage>,
        request_id: &str,
    ) -> Result<(ResponseHeader, Option<bytes::Bytes>)> {
        let (mut head, body) = match form {
            ErrorForm::Grpc => {
                let mut head = ResponseHeader::build(200, Some(4 + self.headers.len()))?;
                head.insert_header(CONTENT_TYPE, "application/grpc")?;
                head.insert_header("grpc-status", grpc_status(self.status).to_string())?;
                let message = self.reason.unwrap_or_else(|| grpc_message(self.status));
                head.insert_header("grpc-message", message)?;
                (head, None)
            }
            ErrorForm::Http => {
                let error = self.reason.unwrap_or_else(|| page::reason(self.status));
                let rendered = page::render_with_reason(page, self.status, error, request_id);
                let mut head = ResponseHeader::build(self.status, Some(4 + self.headers.len()))?;
                head.insert_header(CONTENT_TYPE, rendered.content_type)?;
                head.insert_header(CONTENT_LENGTH, rendered.body.len().to_string())?;
                (head, Some(rendered.body))
            }
        };
        if let Ok(id) = HeaderValue::from_str(request_id) {
            head.insert_header(X_REQUEST_ID, id)?;
        }
        head.insert_header(CACHE_CONTROL, "no-store")?;
        for (name, value) in &self.headers {
            head.append_header(name.clone(), value.clone())?;
        }
        Ok((head, body))
    }
}

/// How an error is expressed to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorForm {
    /// The HTTP status with a JSON body or the route's error page.
    Http,
    /// HTTP 200 with `grpc-status` and `grpc-message` (trailers-only).
    Grpc,
}

impl ErrorForm {
    /// gRPC for `application/grpc` and its `+proto`/`+json` variants.
    pub fn of(req: &RequestHeader) -> Self {
        let grpc = req
            .headers
            .get(CONTENT_TYPE)
            .map(|v| v.as_bytes())
            .is_some_and(|ct| {
                ct.len() >= 16
                    && ct[..16].eq_ignore_ascii_case(b"application/grpc")
                    && matches!(ct.get(16), None | Some(b'+' | b';'))
            });
        if grpc {
            ErrorForm::Grpc
        } else {
            ErrorForm::Http
        }
    }
}

/// The gRPC status code for a gateway error status. Unavailable (14) for
/// upstream failures and overload, deadline exceeded (4) for timeouts,
/// resource exhausted (8) for rate limits and size limits.
pub(crate) fn grpc_status(http: u16) -> u8 {
    match http {
        400 | 414 => 3,         // INVALID_ARGUMENT
        401 => 16,              // UNAUTHENTICATED
        403 => 7,               // PERMISSION_DENIED
        404 | 405 => 12,        // UNIMPLEMENTED
        413 | 429 | 431 => 8,   // RESOURCE_EXHAUSTED
        504 => 4,               // DEADLINE_EXCEEDED
        502 | 503 => 14,        // UNAVAILABLE
        _ if http >= 500 => 13, // INTERNAL
        _ => 2,                 // UNKNOWN
    }
}

/// `grpc-message`: the error's short description (plain ASCII, no
/// percent-encoding needed).
fn grpc_message(http: u16) -> &'static str {
    page::reason(http)
}

/// Whether nothing of the request body is left unread on the connection.
fn request_fully_read(session: &mut Session) -> bool {
    session.is_body_empty() || session.is_body_done()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: Option<&str>) -> RequestHeader {
        let mut req = RequestHeader::build("POST", b"/svc/Method", None).unwrap();
        if let Some(ct) = content_type {
            req.insert_header(CONTENT_TYPE, ct).unwrap();
        }
        req
    }

    #[test]
    fn grpc_content_types_choose_the_grpc_form() {
        for ct in [
            "application/grpc",
            "application/grpc+proto",
            "Application/GRPC+json",
        ] {
            assert_eq!(ErrorForm::of(&request(Some(ct))), ErrorForm::Grpc, "{ct}");
        }
        for ct in [None, Some("application/json"), Some("application/grpcx")] {
            assert_eq!(ErrorForm::of(&request(ct)), ErrorForm::Http, "{ct:?}");
        }
    }

    #[test]
    fn grpc_form_is_200_with_status_and_message_and_no_body() {
        let (head, body) = ErrorResponse::new(504)
            .render(ErrorForm::Grpc, None, "id-1")
            .unwrap();
        assert_eq!(head.status.as_u16(), 200);
        assert_eq!(head.headers["grpc-status"], "4");
        assert_eq!(head.headers["grpc-message"], "upstream timed out");
        assert!(body.is_none());
        let (head, _) = ErrorResponse::new(503)
            .render(ErrorForm::Grpc, None, "id-1")
            .unwrap();
        assert_eq!(head.headers["grpc-status"], "14");
    }

    #[test]
    fn a_reason_replaces_the_status_text_in_both_forms() {
        let overloaded = ErrorResponse::new(503).reason("too many requests in flight");
        let (head, _) = overloaded.render(ErrorForm::Grpc, None, "id").unwrap();
        assert_eq!(head.headers["grpc-message"], "too many requests in flight");
        let (_, body) = overloaded.render(ErrorForm::Http, None, "id").unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body.unwrap()).unwrap();
        assert_eq!(body["error"], "too many requests in flight");
        assert_eq!(body["status"], 503);
    }

    #[test]
    fn http_form_carries_extra_headers_request_id_and_json() {
        let (head, body) = ErrorResponse::new(429)
            .header(http::header::RETRY_AFTER, HeaderValue::from_static("3"))
            .render(ErrorForm::Http, None, "id-2")
            .unwrap();
        assert_eq!(head.status.as_u16(), 429);
        assert_eq!(head.headers["retry-after"], "3");
        assert_eq!(head.headers["x-request-id"], "id-2");
        assert_eq!(head.headers["cache-control"], "no-store");
        let body: serde_json::Value = serde_json::from_slice(&body.unwrap()).unwrap();
        assert_eq!(body["status"], 429);
        assert_eq!(body["request_id"], "id-2");
    }
}
