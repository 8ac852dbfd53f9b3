//! RFC 9112 request-target and framing rules the gateway enforces before
//! routing, for HTTP/1.x requests:
//!
//! - an HTTP/1.1 request without `Host` is refused (400, §3.2);
//! - an absolute-form target (`GET http://host/path`) is routed by its
//!   authority, which replaces any `Host` (§3.2.2), and goes upstream in
//!   origin-form (`GET /path` with `Host: host`);
//! - repeated identical `Content-Length` values (which Pingora accepts as
//!   one) are forwarded as a single field, so no upstream can read the
//!   framing differently (conflicting values never get this far: 400).

use http::header::{CONTENT_LENGTH, HOST};
use http::uri::{PathAndQuery, Uri};
use http::{HeaderValue, Version};
use pingora::http::RequestHeader;
use pingora::{Error, ErrorType};

/// The request's host as sent (`Host`, else the URI authority, as HTTP/2
/// carries it); may include a port. Empty when there is none.
pub(crate) fn host(req: &RequestHeader) -> &str {
    req.headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
        .unwrap_or("")
}

/// Applies the rules above; `Err` carries the status to answer.
pub(crate) fn canonicalize(req: &mut RequestHeader) -> Result<(), u16> {
    if req.version == Version::HTTP_2 {
        return Ok(());
    }
    if let Some(authority) = absolute_form_authority(req) {
        if req.headers.get(HOST).is_none() && req.version == Version::HTTP_11 {
            return Err(400);
        }
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| 400u16)?;
        let origin_form = req
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .parse::<http::Uri>()
            .map_err(|_| 400u16)?;
        req.insert_header(HOST, host).map_err(|_| 400u16)?;
        req.set_uri(origin_form);
    } else if req.version == Version::HTTP_11 && req.headers.get(HOST).is_none() {
        return Err(400);
    }
    single_content_length(req)
}

/// The authority of an absolute-form target. Pingora keeps such a target
/// verbatim for the wire and only its path in the URI, so the raw target is
/// what tells.
fn absolute_form_authority(req: &RequestHeader) -> Option<http::uri::Authority> {
    let raw = req.raw_path();
    if raw.first().is_none_or(|&b| b == b'/' || b == b'*') {
        return req.uri.authority().cloned();
    }
    http::Uri::try_from(raw).ok()?.authority().cloned()
}

/// Collapses `Content-Length: 5` twice, or `Content-Length: 5, 5`, into one
/// field; differing values are refused.
fn single_content_length(req: &mut RequestHeader) -> Result<(), u16> {
    let mut values = req.headers.get_all(CONTENT_LENGTH).iter();
    let Some(first) = values.next() else {
        return Ok(());
    };
    let repeated = values.next().is_some();
    if !repeated && !first.as_bytes().contains(&b',') {
        return Ok(());
    }
    let mut length: Option<u64> = None;
    for value in req.headers.get_all(CONTENT_LENGTH) {
        let text = value.to_str().map_err(|_| 400u16)?;
        for part in text.split(',') {
            let n: u64 = part.trim().parse().map_err(|_| 400u16)?;
            if length.is_some_and(|l| l != n) {
                return Err(400);
            }
            length = Some(n);
        }
    }
    let length = length.ok_or(400u16)?;
    req.insert_header(CONTENT_LENGTH, length.to_string())
        .map_err(|_| 400u16)
}

/// The host of a `Host` value without its port (`[::1]:8080` gives `::1`).
pub(crate) fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [::1]:8080
        return host.split_once(']').map_or(host, |(h, _)| &h[1..]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// `uri` with a new path and query, keeping its scheme and authority (an
/// HTTP/2 request carries its host only there). Used by path normalisation
/// here and by a route's rewrites.
pub(crate) fn with_path_and_query(
    uri: &Uri,
    path: &str,
    query: Option<&str>,
) -> pingora::Result<Uri> {
    let invalid = |e: &dyn std::fmt::Display| {
        Error::explain(
            ErrorType::InvalidHTTPHeader,
            format!("rewritten URI is invalid: {e}"),
        )
    };
    let pq = match query {
        Some(q) => PathAndQuery::try_from(format!("{path}?{q}")),
        None => PathAndQuery::try_from(path),
    }
    .map_err(|e| invalid(&e))?;
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq);
    Uri::from_parts(parts).map_err(|e| invalid(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_path_keeps_scheme_and_authority() {
        let h2: Uri = "https://api.example.com/v1/x?a=1".parse().unwrap();
        let out = with_path_and_query(&h2, "/x", Some("a=1&b=2")).unwrap();
        assert_eq!(out.to_string(), "https://api.example.com/x?a=1&b=2");
        let origin_form: Uri = "/v1/x".parse().unwrap();
        let out = with_path_and_query(&origin_form, "/x", None).unwrap();
        assert_eq!(out.to_string(), "/x");
        assert!(with_path_and_query(&origin_form, "/a b", None).is_err());
    }

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(strip_port("api.example.com:8080"), "api.example.com");
        assert_eq!(strip_port("[::1]:8080"), "::1");
        assert_eq!(strip_port("api.example.com"), "api.example.com");
    }

    fn request(target: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", target.as_bytes(), None).unwrap();
        for (n, v) in headers {
            req.append_header(n.to_string(), *v).unwrap();
        }
        req
    }

    #[test]
    fn http11_needs_a_host() {
        assert_eq!(canonicalize(&mut request("/", &[])), Err(400));
        assert_eq!(canonicalize(&mut request("/", &[("host", "a")])), Ok(()));
        let mut old = request("/", &[]);
        old.set_version(Version::HTTP_10);
        assert_eq!(canonicalize(&mut old), Ok(()));
    }

    #[test]
    fn absolute_form_becomes_origin_form_with_its_authority_as_host() {
        let mut req = request("http://other.test/attack?x=1", &[("host", "decoy")]);
        assert_eq!(canonicalize(&mut req), Ok(()));
        assert_eq!(req.uri.to_string(), "/attack?x=1");
        assert_eq!(req.raw_path(), b"/attack?x=1");
        assert_eq!(req.headers.get(HOST).unwrap(), "other.test");
        assert_eq!(
            canonicalize(&mut request("http://other.test/", &[])),
            Err(400)
        );
    }

    #[test]
    fn repeated_content_lengths_collapse_or_are_refused() {
        let mut twice = request(
            "/",
            &[
                ("host", "a"),
                ("content-length", "5"),
                ("content-length", "5"),
            ],
        );
        assert_eq!(canonicalize(&mut twice), Ok(()));
        let values: Vec<_> = twice.headers.get_all(CONTENT_LENGTH).iter().collect();
        assert_eq!(values, vec!["5"]);
        let mut listed = request("/", &[("host", "a"), ("content-length", "5, 5")]);
        assert_eq!(canonicalize(&mut listed), Ok(()));
        assert_eq!(listed.headers.get(CONTENT_LENGTH).unwrap(), "5");
        let mut conflicting = request("/", &[("host", "a"), ("content-length", "5, 6")]);
        assert_eq!(canonicalize(&mut conflicting), Err(400));
    }
}
