//! `X-Request-Id`: a client's id is kept only when it is short and made of
//! safe characters, so it can be echoed in headers, logs and error bodies
//! without escaping; anything else is replaced by a fresh id.

use pingora::http::RequestHeader;

/// Header carrying the id both ways.
pub const X_REQUEST_ID: &str = "x-request-id";

/// Longest client-supplied id accepted.
pub const MAX_LEN: usize = 128;

/// Whether a client-supplied id is kept: 1 to [`MAX_LEN`] characters from
/// `A-Z a-z 0-9 - _ . : + / =` (UUIDs, hex, base64 and trace ids fit).
pub fn is_acceptable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id.iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=')
        })
}

/// The request's id: the client's when acceptable, else a new random one.
pub fn for_request(req: &RequestHeader) -> String {
    match req.headers.get(X_REQUEST_ID) {
        Some(v) if is_acceptable(v.as_bytes()) => {
            // Acceptable ids are ASCII, so this cannot fail.
            String::from_utf8_lossy(v.as_bytes()).into_owned()
        }
        _ => uuid::Uuid::new_v4().simple().to_string(),
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
