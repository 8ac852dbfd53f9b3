//! Request path normalisation, applied before routing so that a route's
//! prefix and every later consumer (rewrites, upstream, cache key) see the
//! same canonical path (the approach of Envoy's `normalize_path`).
//!
//! In order:
//! 1. percent-decoding of unreserved characters (`%41` → `A`, `%2e` → `.`)
//!    and upper-case hex for every other escape (`%2f` → `%2F`);
//! 2. `%2F` / `%5C` handled by [`EscapedSlashes`]; `%00`, raw backslashes
//!    and malformed escapes are refused;
//! 3. runs of `/` merged (when enabled);
//! 4. RFC 3986 §5.2.4 dot-segment removal; a path that climbs above `/` is
//!    refused instead of being clamped, and so is a dot segment carrying
//!    parameters (`..;x`, read as `..` by some servlet containers).
//!
//! Already-canonical paths (the common case) are returned borrowed after one
//! scan, without allocating.

use crate::config::EscapedSlashes;
use std::borrow::Cow;
use std::fmt;

/// How paths are normalised; compiled from `gateway.downstream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathPolicy {
    /// Collapse runs of `/`.
    pub merge_slashes: bool,
    /// Handling of `%2F` and `%5C`.
    pub escaped_slashes: EscapedSlashes,
}

impl Default for PathPolicy {
    fn default() -> Self {
        PathPolicy {
            merge_slashes: true,
            escaped_slashes: EscapedSlashes::Reject,
        }
    }
}

/// Why a path was refused (the client gets 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRejection {
    /// Not an absolute path (`/...`) nor `*`.
    NotAbsolute,
    /// `%` not followed by two hex digits.
    BadPercentEncoding,
    /// `%00`.
    EncodedNul,
    /// A raw `\`.
    Backslash,
    /// `%2F` or `%5C` while `escaped_slashes: reject`.
    EscapedSlash,
    /// `..` segments climb above `/`.
    AboveRoot,
    /// A dot segment with parameters, such as `..;x`.
    AmbiguousDotSegment,
}

impl fmt::Display for PathRejection {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            PathRejection::NotAbsolute => "the path is not absolute",
            PathRejection::BadPercentEncoding => "malformed percent-encoding in the path",
            PathRejection::EncodedNul => "encoded NUL in the path",
            PathRejection::Backslash => "backslash in the path",
            PathRejection::EscapedSlash => "encoded slash or backslash in the path",
            PathRejection::AboveRoot => "the path climbs above /",
            PathRejection::AmbiguousDotSegment => "dot segment with parameters in the path",
        })
    }
}

/// The canonical form of `path` (without its query), or why it is refused.
pub fn normalize_path<'a>(
    path: &'a str,
    policy: &PathPolicy,
) -> Result<Cow<'a, str>, PathRejection> {
    if path == "*" {
        return Ok(Cow::Borrowed(path));
    }
    if !path.starts_with('/') {
        return Err(PathRejection::NotAbsolute);
    }
    if is_canonical(path.as_bytes(), policy.merge_slashes) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode(path, policy.escaped_slashes)?;
    remove_dot_segments(&decoded, policy.merge_slashes).map(Cow::Owned)
}

/// True when no step would change the path: no escapes, no backslash, no
/// dot segment and (when merging) no `//`.
fn is_canonical(bytes: &[u8], merge_slashes: bool) -> bool {
    let mut prev_slash = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'%' | b'\\' => return false,
            b'/' if prev_slash && merge_slashes => return false,
            b'.' if prev_slash => {
                // `/.` starts a dot segment only if `.` or `..` is the whole
                // segment (or followed by `;` parameters).
                let rest = &bytes[i..];
                let seg_end = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
                let seg = &rest[..seg_end];
                let name = seg.split(|&c| c == b';').next().unwrap_or(seg);
                if name == b"." || name == b".." {
                    return false;
                }
            }
            _ => {}
        }
        prev_slash = b == b'/';
    }
    true
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Step 1 and 2: decode unreserved escapes, normalise the rest.
fn decode(path: &str, escaped_slashes: EscapedSlashes) -> Result<String, PathRejection> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => return Err(PathRejection::Backslash),
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex_value),
                    bytes.get(i + 2).copied().and_then(hex_value),
                ) else {
                    return Err(PathRejection::BadPercentEncoding);
                };
                let value = hi << 4 | lo;
                match value {
                    0 => return Err(PathRejection::EncodedNul),
                    b'/' | b'\\' => match escaped_slashes {
                        EscapedSlashes::Reject => return Err(PathRejection::EscapedSlash),
                        EscapedSlashes::Decode => out.push('/'),
                        EscapedSlashes::Keep => push_escape(&mut out, value),
                    },
                    v if is_unreserved(v) => out.push(v as char),
                    v => push_escape(&mut out, v),
                }
                i += 3;
            }
            _ => {
                // Copy the run up to the next special byte in one go; the
                // run is valid UTF-8 because `%` and `\` are ASCII.
                let end = bytes[i..]
                    .iter()
                    .position(|&b| b == b'%' || b == b'\\')
                    .map_or(bytes.len(), |p| i + p);
                out.push_str(&path[i..end]);
                i = end;
            }
        }
    }
    Ok(out)
}

fn push_escape(out: &mut String, value: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(HEX[usize::from(value >> 4)] as char);
    out.push(HEX[usize::from(value & 0xf)] as char);
}

/// Steps 3 and 4 over a decoded absolute path.
fn remove_dot_segments(path: &str, merge_slashes: bool) -> Result<String, PathRejection> {
    let mut segments: Vec<&str> = Vec::new();
    // Whether the output ends with `/` (after `.`/`..` or an explicit one).
    let mut trailing_slash = false;
    let mut parts = path[1..].split('/').peekable();
    while let Some(seg) = parts.next() {
        let last = parts.peek().is_none();
        let name = seg.split(';').next().unwrap_or(seg);
        if (name == "." || name == "..") && name.len() != seg.len() {
            return Err(PathRejection::AmbiguousDotSegment);
        }
        match seg {
            "." => trailing_slash = true,
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathRejection::AboveRoot);
                }
                trailing_slash = true;
            }
            "" if last => trailing_slash = true,
            "" if merge_slashes => {}
            _ => {
                segments.push(seg);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for seg in &segments {
        out.push('/');
        out.push_str(seg);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(path: &str) -> Result<String, PathRejection> {
        normalize_path(path, &PathPolicy::default()).map(Cow::into_owned)
    }

    fn norm_with(
        path: &str,
        merge: bool,
        escaped: EscapedSlashes,
    ) -> Result<String, PathRejection> {
        let policy = PathPolicy {
            merge_slashes: merge,
            escaped_slashes: escaped,
        };
        normalize_path(path, &policy).map(Cow::into_owned)
    }

    #[test]
    fn canonical_paths_are_borrowed() {
        for p in ["/", "/a/b", "/a/b/", "/a.b/c..d/.e", "/v1/users;id=3", "*"] {
            assert!(
                matches!(
                    normalize_path(p, &PathPolicy::default()),
                    Ok(Cow::Borrowed(_))
                ),
                "{p}"
            );
        }
    }

    #[test]
    fn dot_segments_are_removed_as_in_rfc_3986() {
        assert_eq!(norm("/a/b/c/./../../g").unwrap(), "/a/g");
        assert_eq!(norm("/mid/content=5/../6").unwrap(), "/mid/6");
        assert_eq!(norm("/a/b/..").unwrap(), "/a/");
        assert_eq!(norm("/a/b/.").unwrap(), "/a/b/");
        assert_eq!(norm("/a/..").unwrap(), "/");
        assert_eq!(norm("/public/../admin/secret").unwrap(), "/admin/secret");
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_upper_cased() {
        assert_eq!(norm("/%41%62c/%7e").unwrap(), "/Abc/~");
        assert_eq!(norm("/a%20b/%3f").unwrap(), "/a%20b/%3F");
        assert_eq!(norm("/public/%2e%2e/admin").unwrap(), "/admin");
        assert_eq!(norm("/public/.%2E/admin").unwrap(), "/admin");
    }

    #[test]
    fn slashes_merge_unless_disabled() {
        assert_eq!(norm("//a///b//").unwrap(), "/a/b/");
        assert_eq!(
            norm_with("/a//b/../c", false, EscapedSlashes::Reject).unwrap(),
            "/a//c"
        );
    }

    #[test]
    fn dangerous_forms_are_refused() {
        use PathRejection::*;
        assert_eq!(norm("/.."), Err(AboveRoot));
        assert_eq!(norm("/a/../../etc/passwd"), Err(AboveRoot));
        assert_eq!(norm("/public/..%2fadmin"), Err(EscapedSlash));
        assert_eq!(norm("/public/..%5cadmin"), Err(EscapedSlash));
        assert_eq!(norm("/a%00b"), Err(EncodedNul));
        assert_eq!(norm("/a\\..\\b"), Err(Backslash));
        assert_eq!(norm("/a%2"), Err(BadPercentEncoding));
        assert_eq!(norm("/a%zz"), Err(BadPercentEncoding));
        assert_eq!(norm("/public/..;/admin"), Err(AmbiguousDotSegment));
        assert_eq!(norm("/public/.;x/admin"), Err(AmbiguousDotSegment));
        assert_eq!(norm("a/b"), Err(NotAbsolute));
    }

    #[test]
    fn escaped_slashes_can_be_kept_or_decoded() {
        assert_eq!(
            norm_with("/a%2fb/..%2Fc", true, EscapedSlashes::Keep).unwrap(),
            "/a%2Fb/..%2Fc"
        );
        assert_eq!(
            norm_with("/public/..%2fadmin", true, EscapedSlashes::Decode).unwrap(),
            "/admin"
        );
        assert_eq!(
            norm_with("/x/..%5c..%5cetc", true, EscapedSlashes::Decode),
            Err(PathRejection::AboveRoot)
        );
    }
}
