//! `redirect_https: true` on a route: a request that arrived over
//! plaintext is answered `308 Permanent Redirect` to the same host, path
//! and query on the first HTTPS listener (`https://host[:port]/path?query`,
//! the port left out when it is 443). Requests over TLS pass.

use crate::config::{ListenerConfig, RouteConfig};
use http::header::{CONTENT_LENGTH, LOCATION};
use http::HeaderValue;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

/// Where a route's plaintext requests are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsRedirect {
    /// The port of the first HTTPS listener.
    port: u16,
}

impl HttpsRedirect {
    /// The redirect of `route`, when it asks for one and an HTTPS listener
    /// exists (validation refuses `redirect_https` without one).
    pub fn new(route: &RouteConfig, listeners: &[ListenerConfig]) -> Option<Self> {
        if !route.redirect_https {
            return None;
        }
        let https = listeners.iter().find(|l| l.tls.is_some())?;
        Some(HttpsRedirect {
            port: https.address.0.port(),
        })
    }

    /// The `Location` for `host` (its port, if any, is replaced) and
    /// `path_and_query`; `None` when the host cannot form one.
    pub fn location(&self, host: &str, path_and_query: &str) -> Option<HeaderValue> {
        let host = crate::hygiene::request_target::strip_port(host);
        let name_chars = |b: u8| b.is_ascii_alphanumeric() || b"-._:".contains(&b);
        if host.is_empty() || !host.bytes().all(name_chars) {
            return None;
        }
        let bracketed = host.contains(':');
        let mut url = String::with_capacity(host.len() + path_and_query.len() + 16);
        url.push_str("https://");
        if bracketed {
            url.push('[');
        }
        url.push_str(host);
        if bracketed {
            url.push(']');
        }
        if self.port != 443 {
            url.push(':');
            url.push_str(&self.port.to_string());
        }
        url.push_str(path_and_query);
        let uri: http::Uri = url.parse().ok()?;
        HeaderValue::from_str(&uri.to_string()).ok()
    }
}

/// Answers a plaintext request on a `redirect_https` route with 308 (or 400
/// when it has no usable host); `Ok(true)` when it answered.
pub(crate) async fn redirect_https(
    session: &mut Session,
    redirect: Option<&HttpsRedirect>,
    tls: bool,
) -> Result<bool> {
    let Some(redirect) = redirect.filter(|_| !tls) else {
        return Ok(false);
    };
    let req = session.req_header();
    let path_and_query = req.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let location = redirect.location(crate::hygiene::request_target::host(req), path_and_query);
    if !(session.is_body_empty() || session.is_body_done()) {
        session.set_keepalive(None);
    }
    let head = match location {
        Some(location) => {
            let mut head = ResponseHeader::build(308, Some(2))?;
            head.insert_header(LOCATION, location)?;
            head.insert_header(CONTENT_LENGTH, "0")?;
            head
        }
        None => {
            let mut head = ResponseHeader::build(400, Some(1))?;
            head.insert_header(CONTENT_LENGTH, "0")?;
            head
        }
    };
    session.write_response_header(Box::new(head), true).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_keeps_host_path_and_query_and_names_the_https_port() {
        let standard = HttpsRedirect { port: 443 };
        let other = HttpsRedirect { port: 8443 };
        let at = |r: &HttpsRedirect, host, pq| {
            r.location(host, pq)
                .map(|v| v.to_str().unwrap().to_string())
        };
        assert_eq!(
            at(&standard, "api.example:80", "/a/b?x=1&y=2").as_deref(),
            Some("https://api.example/a/b?x=1&y=2")
        );
        assert_eq!(
            at(&other, "api.example", "/").as_deref(),
            Some("https://api.example:8443/")
        );
        assert_eq!(
            at(&other, "[::1]:8080", "/p").as_deref(),
            Some("https://[::1]:8443/p")
        );
        assert_eq!(at(&standard, "", "/"), None);
        assert_eq!(at(&standard, "bad host", "/"), None);
    }
}
