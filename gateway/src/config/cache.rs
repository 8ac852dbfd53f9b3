//! `gateway.cache_storage` (process-wide, restart only) and a route's
//! `cache` section, with their checks.

use super::values::{ByteSize, HumanDuration};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::Duration;

/// The shared in-memory cache store (changes need a restart).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheStorageConfig {
    /// Memory the stored responses may use (bodies, headers and the
    /// per-entry overhead documented in CACHING.md).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// Largest response body stored; larger responses are passed through.
    #[serde(default = "default_max_object_bytes")]
    pub max_object_bytes: ByteSize,
}

impl Default for CacheStorageConfig {
    fn default() -> Self {
        CacheStorageConfig {
            max_bytes: default_max_bytes(),
            max_object_bytes: default_max_object_bytes(),
        }
    }
}

fn default_max_bytes() -> ByteSize {
    ByteSize(256 * 1024 * 1024)
}

fn default_max_object_bytes() -> ByteSize {
    ByteSize(8 * 1024 * 1024)
}

/// A route's caching policy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteCacheConfig {
    /// Freshness lifetime used only when the origin gives none
    /// (no `max-age`, `s-maxage` or `Expires`); without it such responses
    /// are not stored.
    #[serde(default)]
    pub ttl: Option<HumanDuration>,
    /// Stale-while-revalidate window when `Cache-Control` names none.
    #[serde(default)]
    pub stale_while_revalidate: Option<HumanDuration>,
    /// Stale-if-error window when `Cache-Control` names none.
    #[serde(default)]
    pub stale_if_error: Option<HumanDuration>,
    /// Longest a request waits for another request fetching the same key.
    #[serde(default = "default_lock_timeout")]
    pub lock_timeout: HumanDuration,
    /// Request headers whose values are part of the cache key.
    #[serde(default)]
    pub key_headers: Vec<String>,
    /// Store responses that carry `Set-Cookie`.
    #[serde(default)]
    pub allow_set_cookie: bool,
    /// Who may send `PURGE`.
    #[serde(default)]
    pub purge: PurgeConfig,
    /// On a route with `auth`: the response is the same for every
    /// authenticated client, so entries are shared instead of kept per
    /// identity.
    #[serde(default)]
    pub shared: bool,
}

fn default_lock_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}

/// `PURGE` access.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeConfig {
    /// Client networks (CIDR) allowed to purge; loopback by default.
    #[serde(default = "default_purge_allow")]
    pub allow: Vec<String>,
}

impl Default for PurgeConfig {
    fn default() -> Self {
        PurgeConfig {
            allow: default_purge_allow(),
        }
    }
}

fn default_purge_allow() -> Vec<String> {
    vec!["127.0.0.0/8".into(), "::1/128".into()]
}

/// An IP network such as `10.0.0.0/8`; a bare address is a single host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr/len` or `addr`.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let network: IpAddr = addr.trim().parse().map_err(|_| {
            format!("`{s}` is not an IP network; expected `10.0.0.0/8` or `::1/128`")
        })?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match len {
            None => max,
            Some(l) => match l.trim().parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => {
                    return Err(format!(
                        "`{s}` has a bad prefix length; expected 0 to {max}"
                    ))
                }
            },
        };
        Ok(Cidr { network, prefix })
    }

    /// Whether `ip` is inside the network (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.prefix),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.prefix),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let bits = usize::from(bits);
    let (whole, rest) = (bits / 8, bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[whole] & mask == b[whole] & mask
}

/// The first problem in `gateway.cache_storage`, as (key path, message).
pub fn validate_cache_storage(c: &CacheStorageConfig) -> Result<(), (String, String)> {
    if c.max_bytes.0 == 0 {
        return Err((
            "gateway.cache_storage.max_bytes".into(),
            "expected a size above zero".into(),
        ));
    }
    if c.max_object_bytes.0 == 0 || c.max_object_bytes.0 > c.max_bytes.0 {
        return Err((
            "gateway.cache_storage.max_object_bytes".into(),
            format!(
                "expected a size above zero and at most max_bytes ({})",
                c.max_bytes
            ),
        ));
    }
    Ok(())
}

/// The first problem in a route's `cache` section at `path`.
pub fn validate_route_cache(c: &RouteCacheConfig, path: &str) -> Result<(), (String, String)> {
    if c.lock_timeout.0.is_zero() {
        return Err((
            format!("{path}.lock_timeout"),
            "expected a duration above zero".into(),
        ));
    }
    if c.ttl.is_some_and(|t| t.0.is_zero()) {
        return Err((
            format!("{path}.ttl"),
            "expected a duration above zero (leave it out to store only what the origin marks fresh)"
                .into(),
        ));
    }
    for (i, name) in c.key_headers.iter().enumerate() {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err((
                format!("{path}.key_headers[{i}]"),
                format!("`{name}` is not a header name"),
            ));
        }
    }
    for (i, net) in c.purge.allow.iter().enumerate() {
        Cidr::parse(net).map_err(|m| (format!("{path}.purge.allow[{i}]"), m))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses_only() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.200.1.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.0.0.1".parse().unwrap()));
        let odd = Cidr::parse("192.168.0.0/20").unwrap();
        assert!(odd.contains("192.168.15.255".parse().unwrap()));
        assert!(!odd.contains("192.168.16.0".parse().unwrap()));
        let host = Cidr::parse("::1").unwrap();
        assert!(host.contains("::1".parse().unwrap()));
        assert!(!host.contains("127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn bad_networks_are_refused() {
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("not-an-ip/8").is_err());
        assert!(Cidr::parse("::1/129").is_err());
    }
}
