//! `X-Request-Id`: a client's id is kept only when it is short and made of
//! safe characters, so it can be echoed in headers, logs and error bodies
//! without escaping; anything else is replaced by a fresh id.

use http::HeaderValue;
use pingora::http::RequestHeader;

/// Header carrying the id both ways.
pub(crate) const X_REQUEST_ID: &str = "x-request-id";

/// Longest client-supplied id accepted.
pub(crate) const MAX_LEN: usize = 128;

/// Whether a client-supplied id is kept: 1 to [`MAX_LEN`] characters from
/// `A-Z a-z 0-9 - _ . : + / =` (UUIDs, hex, base64 and trace ids fit).
pub(crate) fn is_acceptable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id.iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=')
        })
}

/// A request's id, held as the header value it is sent as: the upstream
/// request and the response share it without copying or re-validating.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(HeaderValue);

impl Default for RequestId {
    fn default() -> Self {
        RequestId(HeaderValue::from_static(""))
    }
}

impl RequestId {
    /// The id as a header value (a reference-counted clone).
    pub(crate) fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }

    /// The id as text.
    pub(crate) fn as_str(&self) -> &str {
        // Ids are checked ASCII (client ids) or hex (generated ones).
        self.0.to_str().unwrap_or_default()
    }
}

impl std::ops::Deref for RequestId {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<&str> for RequestId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The request's id: the client's when acceptable, else a new random one.
pub(crate) fn for_request(req: &RequestHeader) -> RequestId {
    match req.headers.get(X_REQUEST_ID) {
        Some(v) if is_acceptable(v.as_bytes()) => RequestId(v.clone()),
        _ => {
            let mut hex = [0u8; uuid::fmt::Simple::LENGTH];
            let text = uuid::Uuid::new_v4().simple().encode_lower(&mut hex);
            RequestId(HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("-")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_ids_are_kept() {
        assert!(is_acceptable(b"0f3c2a9e-1b2c-4d5e-8f90-123456789abc"));
        assert!(is_acceptable(
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        for bad in [
            &b""[..],
            b"has space",
            b"quote\"d",
            b"new\nline",
            b"tab\t",
            b"<script>",
            "caf\u{e9}".as_bytes(),
        ] {
            assert!(!is_acceptable(bad), "{bad:?}");
        }
        assert!(!is_acceptable(&[b'a'; MAX_LEN + 1]));
    }

    #[test]
    fn unsafe_client_ids_are_replaced() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header(X_REQUEST_ID, "abc def").unwrap();
        let id = for_request(&req);
        assert_ne!(id, "abc def");
        assert_eq!(id.len(), 32);
        req.insert_header(X_REQUEST_ID, "abc-123").unwrap();
        assert_eq!(for_request(&req), "abc-123");
    }
}
