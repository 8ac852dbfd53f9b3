//! The access log: one `key=value` line per request under the log target
//! `access`. Values that could break the line (quotes, backslashes, control
//! and non-ASCII bytes) are escaped, so a client cannot forge fields or lines.

use std::fmt;

/// Displays a value with `"`, `\`, control and non-ASCII bytes escaped
/// (`\"`, `\\`, `\xHH`); clean values are written as they are.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let needs = b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b);
            if !needs {
                continue;
            }
            f.write_str(ascii_run(&bytes[start..i]))?;
            match b {
                b'"' => f.write_str("\\\"")?,
                b'\\' => f.write_str("\\\\")?,
                _ => write!(f, "\\x{b:02x}")?,
            }
            start = i + 1;
        }
        f.write_str(ascii_run(&bytes[start..]))
    }
}

/// A run of bytes none of which needed escaping: all ASCII, so valid UTF-8.
fn ascii_run(run: &[u8]) -> &str {
    std::str::from_utf8(run).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaking_bytes_are_escaped() {
        assert_eq!(Escaped("/plain/path").to_string(), "/plain/path");
        assert_eq!(Escaped("/a\"b\\c\nd").to_string(), "/a\\\"b\\\\c\\x0ad");
        assert_eq!(Escaped("caf\u{e9}").to_string(), "caf\\xc3\\xa9");
    }
}
