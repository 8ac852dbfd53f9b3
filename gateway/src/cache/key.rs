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

/// Appends a field's length prefix: decimal digits and `:`.
fn push_len(out: &mut Vec<u8>, len: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = len;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.push(b':');
}

/// Appends one length-framed field.
fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    push_len(out, field.len());
    out.extend_from_slice(field);
}

/// The host without its port or IPv6 brackets (case unchanged).
fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        }
    }
}

/// The lower-case host without its port.
pub(crate) fn bare_host(host: &str) -> String {
    host_without_port(host).to_ascii_lowercase()
}

/// The primary key bytes for a request.
pub fn primary(
    scheme: &str,
    host: &str,
    path_and_query: &str,
    req: &RequestHeader,
    key_headers: &[HeaderName],
) -> Vec<u8> {
    let host = host_without_port(host).as_bytes();
    let mut out = Vec::with_capacity(24 + scheme.len() + host.len() + path_and_query.len());
    push_field(&mut out, scheme.as_bytes());
    // Lower-casing ASCII keeps the length: frame, then lower-case in place.
    push_len(&mut out, host.len());
    let start = out.len();
    out.extend_from_slice(host);
    out[start..].make_ascii_lowercase();
    push_field(&mut out, path_and_query.as_bytes());
    for name in key_headers {
        let values = req.headers.get_all(name);
        let len = name.as_str().len()
            + 1
            + values
                .iter()
                .enumerate()
                .map(|(i, v)| v.len() + if i > 0 { 2 } else { 0 })
                .sum::<usize>();
        push_len(&mut out, len);
        out.extend_from_slice(name.as_str().as_bytes());
        out.push(b'=');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(v.as_bytes());
        }
    }
    out
}

/// Appends the authenticated identity as a last field, `@identity=NAME`
/// (`@` cannot start a header name, so it never equals a key-header
/// field).
pub(crate) fn push_identity(primary: &mut Vec<u8>, identity: &str) {
    let prefix = b"@identity=";
    push_len(primary, prefix.len() + identity.len());
    primary.extend_from_slice(prefix);
    primary.extend_from_slice(identity.as_bytes());
}

/// A Pingora cache key over [`primary`]. Its hash is computed once here:
/// Pingora would otherwise rehash the key bytes on every lookup, lock and
/// eviction call.
pub fn cache_key(primary: Vec<u8>) -> CacheKey {
    let hash = pingora::cache::key::hash_key(&primary);
    let mut key = CacheKey::new(primary, "");
    key.set_primary_bin_override(hash);
    key
}

/// Reads one framed field from the front of `input`.
fn take_field(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = input.iter().position(|&b| b == b':')?;
    let len: usize = std::str::from_utf8(&input[..colon]).ok()?.parse().ok()?;
    let rest = &input[colon + 1..];
    (rest.len() >= len).then(|| (&rest[..len], &rest[len..]))
}

/// The (host, path-and-query) a primary key was built from.
pub(crate) fn decode_location(primary: &[u8]) -> Option<(&[u8], &[u8])> {
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
    fn lengths_of_several_digits_and_key_headers_are_framed() {
        let long = format!("/{}", "p".repeat(122));
        let names = [HeaderName::from_static("accept-language")];
        let r = req(&[("accept-language", "en"), ("accept-language", "fr")]);
        let key = primary("https", "H:1", &long, &r, &names);
        let want = format!("5:https1:h123:{long}22:accept-language=en, fr");
        assert_eq!(key, want.into_bytes());
    }

    #[test]
    fn the_precomputed_hash_is_the_hash_of_the_key_bytes() {
        use pingora::cache::key::CacheHashKey;
        let bytes = primary("http", "h", "/x", &req(&[]), &[]);
        let overridden = cache_key(bytes.clone());
        assert_eq!(
            overridden.primary_bin(),
            CacheKey::new(bytes, "").primary_bin()
        );
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
