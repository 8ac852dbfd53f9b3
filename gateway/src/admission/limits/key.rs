//! Limit keys compiled from `client_ip+header:NAME+api_key+route`: the bytes
//! that name one budget.
//!
//! Each part is written as a tag byte, a 4-byte length and the value, so
//! different requests can never produce the same bytes by shifting data
//! between parts. A missing header or identity is an empty value: all such
//! requests share one budget.

use crate::config::limits::{KeyPart, LimitKey};
use http::{HeaderMap, HeaderName};
use std::net::IpAddr;

/// What a key is built from, gathered once per request.
#[derive(Clone, Copy)]
pub struct KeyInput<'a> {
    /// The client address (`RequestCtx.client_ip`).
    pub client_ip: Option<IpAddr>,
    /// The authenticated identity (`RequestCtx.identity`).
    pub identity: Option<&'a str>,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The matched route's name.
    pub route: &'a str,
}

#[derive(Debug, Clone)]
enum Part {
    ClientIp,
    Header(HeaderName),
    ApiKey,
    Route,
}

/// A compiled limit key.
#[derive(Debug, Clone)]
pub struct CompiledKey {
    parts: Vec<Part>,
}

impl CompiledKey {
    /// Compiles a validated key (a header name validation refused cannot
    /// reach here; it would be skipped rather than panic).
    pub fn new(key: &LimitKey) -> Self {
        let parts = key
            .0
            .iter()
            .filter_map(|p| match p {
                KeyPart::ClientIp => Some(Part::ClientIp),
                KeyPart::ApiKey => Some(Part::ApiKey),
                KeyPart::Route => Some(Part::Route),
                KeyPart::Header(name) => HeaderName::from_bytes(name.as_bytes())
                    .ok()
                    .map(Part::Header),
            })
            .collect();
        CompiledKey { parts }
    }

    /// Writes the key of one request into `out` (cleared first).
    pub fn write(&self, input: &KeyInput<'_>, out: &mut Vec<u8>) {
        out.clear();
        let mut ip_buf = [0u8; 16];
        for part in &self.parts {
            let (tag, value): (u8, &[u8]) = match part {
                Part::ClientIp => (
                    b'i',
                    match input.client_ip {
                        Some(IpAddr::V4(v4)) => {
                            ip_buf[..4].copy_from_slice(&v4.octets());
                            &ip_buf[..4]
                        }
                        Some(IpAddr::V6(v6)) => {
                            ip_buf = v6.octets();
                            &ip_buf[..]
                        }
                        None => b"",
                    },
                ),
                Part::Header(name) => (
                    b'h',
                    input.headers.get(name).map_or(&b""[..], |v| v.as_bytes()),
                ),
                Part::ApiKey => (b'k', input.identity.unwrap_or("").as_bytes()),
                Part::Route => (b'r', input.route.as_bytes()),
            };
            out.push(tag);
            let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::limits::LimitKey;

    fn key_of(spec: &str, input: &KeyInput<'_>) -> Vec<u8> {
        let key = CompiledKey::new(&serde_yaml::from_str::<LimitKey>(spec).expect("valid key"));
        let mut out = Vec::new();
        key.write(input, &mut out);
        out
    }

    #[test]
    fn parts_are_framed_so_values_cannot_run_together() {
        let mut headers = HeaderMap::new();
        headers.insert("x-a", "ab".parse().unwrap());
        headers.insert("x-b", "c".parse().unwrap());
        let input = KeyInput {
            client_ip: Some("10.0.0.1".parse().unwrap()),
            identity: None,
            headers: &headers,
            route: "r",
        };
        let split_one = key_of("header:x-a+header:x-b", &input);
        let mut other = HeaderMap::new();
        other.insert("x-a", "a".parse().unwrap());
        other.insert("x-b", "bc".parse().unwrap());
        let split_two = key_of(
            "header:x-a+header:x-b",
            &KeyInput {
                headers: &other,
                ..input
            },
        );
        assert_ne!(split_one, split_two);
    }

    #[test]
    fn route_and_header_both_count() {
        let mut headers = HeaderMap::new();
        headers.insert("x-client", "a".parse().unwrap());
        let on = |route| KeyInput {
            client_ip: None,
            identity: Some("id"),
            headers: &headers,
            route,
        };
        let spec = "header:x-client+route";
        assert_ne!(key_of(spec, &on("one")), key_of(spec, &on("two")));
        assert_eq!(key_of(spec, &on("one")), key_of(spec, &on("one")));
        assert_ne!(
            key_of("api_key", &on("one")),
            key_of("client_ip", &on("one"))
        );
    }
}
