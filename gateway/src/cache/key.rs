//! Cache keys: scheme, host (lower case, no port), normalised path and
//! query, and the route's key headers, each framed with its length so no
//! two different requests can produce the same bytes.
//!
//! Layout of the primary key: `<len>:<bytes>` per field, fields in the
//! order scheme, host, path-and-query, then one field per key header
//! holding `name=value` (absent headers frame an empty value, repeated
//! headers are joined with `, `), then, on a route with `auth` whose cache
//! is not `shared`, the identity (`@identity=NAME`). [`decode_location`]
//! reads the host and path back for purges (which so remove every
//! identity's entry).

use http::HeaderName;
use pingora::cache::CacheKey;
use pingora::http::RequestHeader;

/// Appends one length-framed field.
fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(field.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(field);
}

/// The lower-case host without its port.
pub fn bare_host(host: &str) -> String {
    let host = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        }
    };
    host.to_ascii_lowercase()
}

/// The primary key bytes for a request.
pub fn primary(
    scheme: &str,
    host: &str,
    path_and_query: &str,
    req: &RequestHeader,
    key_headers: &[HeaderName],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + host.len() + path_and_query.len());
    push_field(&mut out, scheme.as_bytes());
    push_field(&mut out, bare_host(host).as_bytes());
    push_field(&mut out, path_and_query.as_bytes());
    for name in key_headers {
        let mut field = Vec::with_capacity(name.as_str().len() + 16);
        field.extend_from_slice(name.as_str().as_bytes());
        field.push(b'=');
        for (i, v) in req.headers.get_all(name).iter().enumerate() {
            if i > 0 {
                field.extend_from_slice(b", ");
            }
            field.extend_from_slice(v.as_bytes());
        }
        push_field(&mut out, &field);
    }
    out
}

/// Appends the authenticated identity as a last field, `@identity=NAME`
/// (`@` cannot start a header name, so it never equals a key-header
/// field).
pub fn push_identity(primary: &mut Vec<u8>, identity: &str) {
    let mut field = Vec::with_capacity(identity.len() + 10);
    field.extend_from_slice(b"@identity=");
    field.extend_from_slice(identity.as_bytes());
    push_field(primary, &field);
}

/// A Pingora cache key over [`primary`].
pub fn cache_key(primary: Vec<u8>) -> CacheKey {
    CacheKey::new(primary, "")
}

/// Reads one framed field from the front of `input`.
fn take_field(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = input.iter().position(|&b| b == b':')?;
    let len: usize = std::str::from_utf8(&input[..colon]).ok()?.parse().ok()?;
    let rest = &input[colon + 1..];
    (rest.len() >= len).then(|| (&rest[..len], &rest[len..]))
}

/// The (host, path-and-query) a primary key was built from.
pub fn decode_location(primary: &[u8]) -> Option<(&[u8], &[u8])> {
    let (_scheme, rest) = take_field(primary)?;
    let (host, rest) = take_field(rest)?;
    let (path, _) = take_field(rest)?;
    Some((host, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn fields_are_framed_so_boundaries_cannot_shift() {
        let r = req(&[]);
        // Without framing both would be "http" + "a.b" + "/c/d".
        let a = primary("http", "a.b", "/c/d", &r, &[]);
        let b = primary("http", "a.b/c", "/d", &r, &[]);
        assert_ne!(a, b);
        assert_eq!(a, b"4:http3:a.b4:/c/d".to_vec());
    }

    #[test]
    fn host_case_and_port_do_not_matter_but_query_does() {
        let r = req(&[]);
        assert_eq!(
            primary("http", "Example.COM:8080", "/x", &r, &[]),
            primary("http", "example.com", "/x", &r, &[])
        );
        assert_ne!(
            primary("http", "example.com", "/x?a=1", &r, &[]),
            primary("http", "example.com", "/x?a=2", &r, &[])
        );
        assert_eq!(bare_host("[::1]:8080"), "::1");
    }

    #[test]
    fn key_headers_separate_values_and_absence() {
        let names = [HeaderName::from_static("accept-language")];
        let en = primary("http", "h", "/", &req(&[("accept-language", "en")]), &names);
        let fr = primary("http", "h", "/", &req(&[("accept-language", "fr")]), &names);
        let none = primary("http", "h", "/", &req(&[]), &names);
        let empty = primary("http", "h", "/", &req(&[("accept-language", "")]), &names);
        assert_ne!(en, fr);
        assert_ne!(en, none);
        // An empty value and no header are the same request to the origin.
        assert_eq!(none, empty);
        // A header value cannot forge another field.
        let forged = primary(
            "http",
            "h",
            "/",
            &req(&[("accept-language", "en12:x")]),
            &names,
        );
        assert_ne!(forged, en);
    }

    #[test]
    fn identities_separate_keys_but_not_locations() {
        let r = req(&[]);
        let open = primary("http", "h", "/a", &r, &[]);
        let mut alice = open.clone();
        push_identity(&mut alice, "alice");
        let mut bob = open.clone();
        push_identity(&mut bob, "bob");
        assert_ne!(alice, bob);
        assert_ne!(alice, open);
        assert_eq!(decode_location(&alice), decode_location(&open));
    }

    #[test]
    fn location_decodes_from_the_key() {
        let names = [HeaderName::from_static("accept-language")];
        let p = primary(
            "http",
            "Host:1",
            "/a?b",
            &req(&[("accept-language", "en")]),
            &names,
        );
        assert_eq!(
            decode_location(&p),
            Some((b"host".as_slice(), b"/a?b".as_slice()))
        );
        assert_eq!(decode_location(b"9:short"), None);
    }
}
