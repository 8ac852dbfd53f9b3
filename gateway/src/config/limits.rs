//! `limits` sections (global, per route, per cluster), the limit key syntax
//! and their checks. See docs/LIMITS.md.

use super::values::{deserialize_human, HumanDuration, HumanValue, Rate};
use serde::{Deserialize, Serialize};
use serde::{Deserializer, Serializer};
use std::fmt;
use std::time::Duration;

/// Shortest `window.per`: pingora-limits counts whole milliseconds and
/// assumes windows of at least a second.
pub const MIN_WINDOW: Duration = Duration::from_secs(1);
/// Longest `window.per`.
pub const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// `gateway.limits`: checked for every routed request before the route's own.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalLimitsConfig {
    /// A GCRA rate limit over all routes.
    #[serde(default)]
    pub gcra: Option<GcraConfig>,
}

/// A route's `limits`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteLimitsConfig {
    /// A GCRA rate limit (smooth rate with a burst allowance).
    #[serde(default)]
    pub gcra: Option<GcraConfig>,
    /// A sliding-window request count.
    #[serde(default)]
    pub window: Option<WindowConfig>,
    /// Requests of this route being served at once.
    #[serde(default)]
    pub in_flight: Option<u32>,
}

/// A cluster's `limits`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterLimitsConfig {
    /// Requests sent to this cluster at once (all routes together).
    #[serde(default)]
    pub in_flight: Option<u32>,
}

/// `gcra: { key, rate, burst }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GcraConfig {
    /// What one budget belongs to.
    pub key: LimitKey,
    /// Sustained rate per key.
    pub rate: Rate,
    /// Requests a key may make at once after being idle.
    pub burst: u64,
}

/// `window: { key, max, per }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// What one count belongs to.
    pub key: LimitKey,
    /// Requests allowed per window.
    pub max: u64,
    /// The window length.
    pub per: HumanDuration,
}

/// One part of a limit key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyPart {
    /// The client's IP address.
    ClientIp,
    /// A request header's value (lower-cased name).
    Header(String),
    /// The authenticated identity (empty when the request has none).
    ApiKey,
    /// The route's name.
    Route,
}

/// What a limit counts per: parts joined by `+`, such as `client_ip+route`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LimitKey(pub Vec<KeyPart>);

impl HumanValue for LimitKey {
    const EXPECTING: &'static str =
        "`client_ip`, `api_key`, `route` or `header:NAME`, joined by `+` (e.g. `client_ip+route`)";
    fn parse_human(s: &str) -> Result<Self, String> {
        let parts = s
            .split('+')
            .map(|part| parse_part(part.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LimitKey(parts))
    }
}

fn parse_part(part: &str) -> Result<KeyPart, String> {
    match part.split_once(':') {
        None if part == "client_ip" => Ok(KeyPart::ClientIp),
        None if part == "api_key" => Ok(KeyPart::ApiKey),
        None if part == "route" => Ok(KeyPart::Route),
        Some(("header", name)) => {
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() {
                return Err(format!("`{part}` names no header"));
            }
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!("`{name}` is not a valid header name"));
            }
            Ok(KeyPart::Header(name))
        }
        _ if part.is_empty() => Err("a key part is empty".into()),
        _ => Err(format!("`{part}` is not a limit key part")),
    }
}

impl fmt::Display for LimitKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for (i, part) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            match part {
                KeyPart::ClientIp => f.write_str("client_ip")?,
                KeyPart::ApiKey => f.write_str("api_key")?,
                KeyPart::Route => f.write_str("route")?,
                KeyPart::Header(h) => write!(f, "header:{h}")?,
            }
        }
        Ok(())
    }
}
super::values::human_serde!(LimitKey);

type Problem = (String, String);

/// The first problem in any `limits` section: global, clusters', routes'.
pub fn validate_all(gw: &super::GatewayConfig) -> Result<(), Problem> {
    if let Some(gcra) = &gw.limits.gcra {
        validate_gcra(gcra, "gateway.limits.gcra")?;
    }
    for (name, cluster) in &gw.clusters {
        if let Some(limits) = &cluster.limits {
            validate_in_flight(
                limits.in_flight,
                &format!("gateway.clusters.{name}.limits.in_flight"),
            )?;
        }
    }
    for (i, route) in gw.routes.iter().enumerate() {
        if let Some(limits) = &route.limits {
            validate_route_limits(limits, &format!("gateway.routes[{i}].limits"))?;
        }
    }
    Ok(())
}

/// The first problem in a route's `limits` at `path`.
fn validate_route_limits(c: &RouteLimitsConfig, path: &str) -> Result<(), Problem> {
    if let Some(gcra) = &c.gcra {
        validate_gcra(gcra, &format!("{path}.gcra"))?;
    }
    if let Some(window) = &c.window {
        if window.max == 0 {
            return Err((
                format!("{path}.window.max"),
                "expected at least 1 request per window".into(),
            ));
        }
        let per = window.per.0;
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&per) {
            return Err((
                format!("{path}.window.per"),
                "expected a window from 1s to 24h".into(),
            ));
        }
    }
    validate_in_flight(c.in_flight, &format!("{path}.in_flight"))
}

fn validate_in_flight(n: Option<u32>, path: &str) -> Result<(), Problem> {
    if n == Some(0) {
        return Err((
            path.into(),
            "expected at least 1 (leave it out for no limit)".into(),
        ));
    }
    Ok(())
}

fn validate_gcra(c: &GcraConfig, path: &str) -> Result<(), Problem> {
    if c.burst == 0 {
        return Err((
            format!("{path}.burst"),
            "expected at least 1 (the requests a key may make at once)".into(),
        ));
    }
    if gcra_tolerance_nanos(c.rate.count, c.rate.per, c.burst).is_none() {
        return Err((
            format!("{path}.burst"),
            "burst times the emission interval overflows; expected a smaller burst".into(),
        ));
    }
    Ok(())
}

/// The GCRA tolerance `(burst − 1)·T` in nanoseconds, with `T = period /
/// count` rounded up, or `None` when the policy cannot be represented (zero
/// rate, burst or period, or a tolerance plus one interval beyond `u64`
/// nanoseconds). The limiter's `GcraPolicy::new` accepts exactly the
/// policies for which this is `Some` (a test there holds them together).
pub fn gcra_tolerance_nanos(count: u64, period: std::time::Duration, burst: u64) -> Option<u64> {
    let period_ns = u64::try_from(period.as_nanos()).ok()?;
    if count == 0 || burst == 0 || period_ns == 0 {
        return None;
    }
    let interval = period_ns.div_ceil(count);
    (burst - 1)
        .checked_mul(interval)
        .filter(|tau| tau.checked_add(interval).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_print_back() {
        let key = LimitKey::parse_human("client_ip + header:X-Tenant+route+api_key").unwrap();
        assert_eq!(
            key.0,
            vec![
                KeyPart::ClientIp,
                KeyPart::Header("x-tenant".into()),
                KeyPart::Route,
                KeyPart::ApiKey
            ]
        );
        assert_eq!(key.to_string(), "client_ip+header:x-tenant+route+api_key");
    }

    #[test]
    fn bad_keys_are_refused() {
        for bad in [
            "",
            "client_ip+",
            "path",
            "header:",
            "header:bad name",
            "cookie:x",
        ] {
            assert!(LimitKey::parse_human(bad).is_err(), "{bad}");
        }
    }
}
