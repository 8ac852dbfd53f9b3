//! Checks of the client-facing request rules (`security.rs`): IP lists,
//! trusted proxies, per-route size limits and body rules.

use super::model::{DownstreamConfig, GatewayConfig, RouteConfig};
use super::security::{
    parse_net, BodyRulesConfig, IpRulesConfig, MAX_INSPECT_BYTES, PINGORA_MAX_HEADERS,
};

/// (key path, message).
type Problem = (String, String);

/// Checks every network of a list, naming the bad entry.
pub(super) fn validate_nets(nets: &[String], path: &str) -> Result<(), Problem> {
    for (i, net) in nets.iter().enumerate() {
        parse_net(net).map_err(|m| (format!("{path}[{i}]"), m))?;
    }
    Ok(())
}

fn validate_ip_rules(rules: &IpRulesConfig, path: &str) -> Result<(), Problem> {
    if let Some(allow) = &rules.allow {
        validate_nets(allow, &format!("{path}.allow"))?;
    }
    validate_nets(&rules.deny, &format!("{path}.deny"))
}

/// `gateway.trusted_proxies`, `gateway.ip` and the global size keys.
pub(super) fn validate_gateway_security(gw: &GatewayConfig) -> Result<(), Problem> {
    validate_nets(&gw.trusted_proxies, "gateway.trusted_proxies")?;
    if let Some(ip) = &gw.ip {
        validate_ip_rules(ip, "gateway.ip")?;
    }
    let d = &gw.downstream;
    if d.max_headers == 0 || d.max_headers > PINGORA_MAX_HEADERS {
        return Err((
            "gateway.downstream.max_headers".into(),
            format!(
                "{} is out of range; expected 1 to {PINGORA_MAX_HEADERS} (Pingora refuses more header fields before any check)",
                d.max_headers
            ),
        ));
    }
    if d.max_body_bytes.is_some_and(|b| b.0 == 0) {
        return Err((
            "gateway.downstream.max_body_bytes".into(),
            "expected a size above zero (leave it out for no limit)".into(),
        ));
    }
    Ok(())
}

/// A route's `ip`, size keys and `body_rules` at `path`.
pub(super) fn validate_route_security(
    route: &RouteConfig,
    global: &DownstreamConfig,
    path: &str,
) -> Result<(), Problem> {
    if let Some(ip) = &route.ip {
        validate_ip_rules(ip, &format!("{path}.ip"))?;
    }
    if let Some(max) = route.max_body_bytes {
        if max.0 == 0 || global.max_body_bytes.is_some_and(|g| max.0 > g.0) {
            let bound = global
                .max_body_bytes
                .map_or("a size above zero".to_string(), |g| {
                    format!("a size above zero and at most gateway.downstream.max_body_bytes ({g})")
                });
            return Err((
                format!("{path}.max_body_bytes"),
                format!("{max} is out of range; expected {bound}"),
            ));
        }
    }
    if let Some(max) = route.max_header_bytes {
        if max.0 == 0 || max.0 > global.max_header_bytes.0 {
            return Err((
                format!("{path}.max_header_bytes"),
                format!(
                    "{max} is out of range; expected a size above zero and at most gateway.downstream.max_header_bytes ({}); a route may only lower it",
                    global.max_header_bytes
                ),
            ));
        }
    }
    if let Some(max) = route.max_headers {
        if max > PINGORA_MAX_HEADERS {
            return Err((
                format!("{path}.max_headers"),
                format!("{max} is above {PINGORA_MAX_HEADERS}, which Pingora refuses before any check; expected 1 to {}", global.max_headers),
            ));
        }
        if max == 0 || max > global.max_headers {
            return Err((
                format!("{path}.max_headers"),
                format!(
                    "{max} is out of range; expected 1 to gateway.downstream.max_headers ({}); a route may only lower it",
                    global.max_headers
                ),
            ));
        }
    }
    if let Some(rules) = &route.body_rules {
        validate_body_rules(rules, &format!("{path}.body_rules"))?;
    }
    Ok(())
}

fn validate_body_rules(rules: &BodyRulesConfig, path: &str) -> Result<(), Problem> {
    if rules.deny.is_empty() {
        return Err((
            format!("{path}.deny"),
            "expected at least one pattern".into(),
        ));
    }
    for (i, pattern) in rules.deny.iter().enumerate() {
        if let Err(e) = regex::bytes::Regex::new(pattern) {
            let first_line = e.to_string();
            let detail = first_line.lines().last().unwrap_or("").trim().to_string();
            return Err((
                format!("{path}.deny[{i}]"),
                format!("`{pattern}` is not a valid regular expression ({detail})"),
            ));
        }
    }
    let n = rules.inspect_bytes.0;
    if n == 0 || n > MAX_INSPECT_BYTES {
        return Err((
            format!("{path}.inspect_bytes"),
            format!(
                "{} is out of range; expected 1 to 64KiB (Pingora's request body retry buffer)",
                rules.inspect_bytes
            ),
        ));
    }
    Ok(())
}
