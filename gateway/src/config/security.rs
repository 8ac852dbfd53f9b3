//! Client-facing request rules: `gateway.trusted_proxies`, IP allow/deny
//! lists (global and per route), per-route size limits and body rules.
//! Their checks are in `validate_security.rs`.

use super::values::ByteSize;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Pingora refuses requests with more header fields than this before any
/// phase runs (`MAX_HEADERS` in pingora-core's HTTP/1 code), so a higher
/// `max_headers` could never apply.
pub const PINGORA_MAX_HEADERS: usize = 256;

/// Largest `body_rules.inspect_bytes`: Pingora's request body retry buffer,
/// which carries the inspected bytes to the upstream.
pub const MAX_INSPECT_BYTES: u64 = 64 * 1024;

/// IP allow and deny lists (CIDR networks or single addresses, v4 or v6).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IpRulesConfig {
    /// When given, only these networks are admitted.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Refused networks; deny wins over allow.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// Patterns refused in the first bytes of a request body.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BodyRulesConfig {
    /// Regular expressions (`regex` crate syntax); a match is 403.
    pub deny: Vec<String>,
    /// How much of the body is inspected (at most 64KiB).
    #[serde(default = "default_inspect_bytes")]
    pub inspect_bytes: ByteSize,
}

fn default_inspect_bytes() -> ByteSize {
    ByteSize(MAX_INSPECT_BYTES)
}

/// Parses a network (`10.0.0.0/8`, `2001:db8::/32`) or a single address.
/// Host bits below the prefix are ignored.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    s.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
        format!("`{s}` is not an IP network; expected a CIDR such as `10.0.0.0/8` or `2001:db8::/32`, or one address")
    })
}
