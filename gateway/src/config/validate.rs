//! Checks that need more than one key: references between sections,
//! duplicates, empty pools and values the types alone cannot rule out.

use super::model::*;
use super::ConfigError;
use http::{HeaderName, HeaderValue, Method};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

/// Largest endpoint `weight`. Pingora's weighted selection allocates one
/// slot per unit of weight, and Ketama places 160 ring points per unit and
/// sums the weights in a `u32`: unbounded weights exhaust memory or panic.
pub(super) const MAX_WEIGHT: usize = 1000;

/// Largest sum of the weights in one pool (primary or backup). It bounds a
/// pool's selector to 10 000 slots (20 KB) or 1.6 million Ketama points
/// (~13 MB), and the endpoint count below the 65 535 Pingora can index.
pub(super) const MAX_POOL_WEIGHT: usize = 10_000;

/// Returns the first problem found, with its key path.
pub(super) fn validate(config: &Config, file: &str) -> Result<(), ConfigError> {
    let err = |path: String, msg: String| ConfigError::at(file, path, msg);
    if config.version != 1 {
        return Err(err(
            "version".into(),
            format!("unsupported version {}; expected 1", config.version),
        ));
    }
    if config.threads == 0 {
        return Err(err("threads".into(), "expected at least 1 thread".into()));
    }
    let gw = &config.gateway;
    validate_listeners(gw).map_err(|(p, m)| err(p, m))?;
    super::validate_downstream::validate_downstream(&gw.downstream).map_err(|(p, m)| err(p, m))?;
    super::access_log::validate_access_log(&gw.access_log).map_err(|(p, m)| err(p, m))?;
    super::shutdown::validate_shutdown(&gw.shutdown).map_err(|(p, m)| err(p, m))?;
    if let Some(admin) = &gw.admin {
        validate_admin(admin).map_err(|(p, m)| err(p, m))?;
    }
    if let Some(watch) = &gw.config_watch {
        if watch.interval.0.is_zero() {
            return Err(err(
                "gateway.config_watch.interval".into(),
                "expected a duration above 0 such as `1s`".into(),
            ));
        }
    }
    if gw.clusters.is_empty() {
        return Err(err(
            "gateway.clusters".into(),
            "expected at least one cluster".into(),
        ));
    }
    for (name, cluster) in &gw.clusters {
        validate_cluster(cluster, &format!("gateway.clusters.{name}"))
            .map_err(|(p, m)| err(p, m))?;
    }
    super::cache::validate_cache_storage(&gw.cache_storage).map_err(|(p, m)| err(p, m))?;
    super::validate_security::validate_gateway_security(gw).map_err(|(p, m)| err(p, m))?;
    validate_routes(gw).map_err(|(p, m)| err(p, m))?;
    super::validate_tls::validate_tls(gw).map_err(|(p, m)| err(p, m))?;
    super::limits::validate_all(gw).map_err(|(p, m)| err(p, m))?;
    Ok(())
}

type Problem = (String, String);

fn validate_listeners(gw: &GatewayConfig) -> Result<(), Problem> {
    if gw.listeners.is_empty() {
        return Err((
            "gateway.listeners".into(),
            "expected at least one listener".into(),
        ));
    }
    let mut seen = HashMap::new();
    let admin = gw
        .admin
        .iter()
        .map(|a| (a.address, "gateway.admin.address".to_string()));
    let listeners = gw
        .listeners
        .iter()
        .enumerate()
        .map(|(i, l)| (l.address, format!("gateway.listeners[{i}].address")));
    for (addr, path) in listeners.chain(admin) {
        if let Some(first) = seen.insert(addr, path.clone()) {
            return Err((
                path,
                format!("`{addr}` is already used by {first}; each listener needs its own address"),
            ));
        }
    }
    Ok(())
}

fn validate_admin(admin: &AdminConfig) -> Result<(), Problem> {
    match admin.token.as_deref() {
        Some(token) if token.len() < 16 || token.contains(|c: char| c.is_whitespace() || c.is_control()) => {
            return Err((
                "gateway.admin.token".into(),
                "expected at least 16 characters without spaces (e.g. `${GATEWAY_ADMIN_TOKEN}`)".into(),
            ))
        }
        None if !admin.address.0.ip().is_loopback() => {
            return Err((
                "gateway.admin.token".into(),
                format!(
                    "the admin address `{}` is not loopback, so a token is required (e.g. `token: ${{GATEWAY_ADMIN_TOKEN}}`)",
                    admin.address
                ),
            ))
        }
        _ => {}
    }
    for (i, host) in admin.allowed_hosts.iter().flatten().enumerate() {
        if host.is_empty()
            || HeaderValue::from_str(host).is_err()
            || host.contains(char::is_whitespace)
        {
            return Err((
                format!("gateway.admin.allowed_hosts[{i}]"),
                format!(
                    "`{host}` is not a host; expected `admin.example.com:9090` or `10.0.0.5:9090`"
                ),
            ));
        }
    }
    Ok(())
}

fn validate_cluster(cluster: &ClusterConfig, path: &str) -> Result<(), Problem> {
    if cluster.endpoints.is_empty() {
        return Err((
            format!("{path}.endpoints"),
            "expected at least one endpoint".into(),
        ));
    }
    let mut addrs = HashSet::new();
    let mut names = HashSet::new();
    let pools = [
        ("endpoints", &cluster.endpoints),
        ("backup", &cluster.backup),
    ];
    for (pool, endpoints) in pools {
        for (i, ep) in endpoints.iter().enumerate() {
            let ep_path = format!("{path}.{pool}[{i}]");
            if !(1..=MAX_WEIGHT).contains(&ep.weight) {
                return Err((
                    format!("{ep_path}.weight"),
                    format!(
                        "weight {} is out of range; expected 1 to {MAX_WEIGHT}",
                        ep.weight
                    ),
                ));
            }
            if !addrs.insert(ep.address.clone()) {
                return Err((
                    format!("{ep_path}.address"),
                    format!("`{}` appears twice in this cluster", ep.address),
                ));
            }
            let label = ep.name.clone().unwrap_or_else(|| ep.address.to_string());
            if !names.insert(label.clone()) {
                return Err((
                    format!("{ep_path}.name"),
                    format!("endpoint name `{label}` appears twice in this cluster"),
                ));
            }
        }
        // Each weight is at most MAX_WEIGHT here, so the sum cannot overflow.
        let total: usize = endpoints.iter().map(|e| e.weight).sum();
        if total > MAX_POOL_WEIGHT {
            return Err((
                format!("{path}.{pool}"),
                format!(
                    "the weights add up to {total}; expected at most {MAX_POOL_WEIGHT} per pool"
                ),
            ));
        }
    }
    if let Some(hc) = &cluster.health_check {
        let hc_path = format!("{path}.health_check");
        match hc.kind {
            HealthCheckKind::Http => match &hc.path {
                Some(p) if p.starts_with('/') => {}
                Some(p) => {
                    return Err((
                        format!("{hc_path}.path"),
                        format!("`{p}` must start with `/`"),
                    ))
                }
                None => {
                    return Err((
                        format!("{hc_path}.path"),
                        "an http health check needs a path such as `/healthz`".into(),
                    ))
                }
            },
            HealthCheckKind::Tcp => {
                for (key, set) in [
                    ("path", hc.path.is_some()),
                    ("host", hc.host.is_some()),
                    ("expect_status", hc.expect_status.is_some()),
                    ("expect_body", hc.expect_body.is_some()),
                ] {
                    if set {
                        return Err((
                            format!("{hc_path}.{key}"),
                            "only http health checks take this key".into(),
                        ));
                    }
                }
            }
        }
        if hc.interval.0.is_zero() {
            return Err((
                format!("{hc_path}.interval"),
                "expected a positive interval".into(),
            ));
        }
        if hc.timeout.0.is_zero() {
            return Err((
                format!("{hc_path}.timeout"),
                "expected a positive timeout".into(),
            ));
        }
        for (key, v) in [
            ("healthy_after", hc.healthy_after),
            ("unhealthy_after", hc.unhealthy_after),
        ] {
            if v == 0 {
                return Err((format!("{hc_path}.{key}"), "expected at least 1".into()));
            }
        }
        if let Some(code) = hc.expect_status {
            if !(100..=599).contains(&code) {
                return Err((
                    format!("{hc_path}.expect_status"),
                    format!("{code} is not an HTTP status"),
                ));
            }
        }
    }
    if let Some(sticky) = &cluster.sticky {
        if sticky.cookie.is_empty() || !sticky.cookie.bytes().all(is_cookie_name_byte) {
            return Err((
                format!("{path}.sticky.cookie"),
                format!("`{}` is not a valid cookie name", sticky.cookie),
            ));
        }
    }
    let timeouts = &cluster.timeouts;
    for (key, d) in [
        ("connect", timeouts.connect),
        ("read", timeouts.read),
        ("write", timeouts.write),
    ] {
        if d.0.is_zero() {
            return Err((
                format!("{path}.timeouts.{key}"),
                "expected a positive duration".into(),
            ));
        }
    }
    validate_tls(cluster, path)
}

/// TLS keys and their interplay with `protocol` and health checks. Whether
/// the files can be read and parsed is checked when the config is compiled.
fn validate_tls(cluster: &ClusterConfig, path: &str) -> Result<(), Problem> {
    match (cluster.protocol, &cluster.tls) {
        (UpstreamProtocol::H2, None) => {
            return Err((
                format!("{path}.protocol"),
                "`h2` is HTTP/2 over TLS and needs a `tls` section; use `h2c` for plaintext HTTP/2"
                    .into(),
            ))
        }
        (UpstreamProtocol::H2c, Some(_)) => {
            return Err((
                format!("{path}.protocol"),
                "`h2c` is plaintext HTTP/2 and cannot be used with `tls`; use `h2`".into(),
            ))
        }
        _ => {}
    }
    let Some(tls) = &cluster.tls else {
        return Ok(());
    };
    let tls_path = format!("{path}.tls");
    if let Some(sni) = &tls.sni {
        if sni.is_empty() || sni.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err((
                format!("{tls_path}.sni"),
                format!("`{sni}` is not a server name; expected a host name or an IP address"),
            ));
        }
    }
    for (key, file) in [
        ("ca", &tls.ca),
        ("client_cert", &tls.client_cert),
        ("client_key", &tls.client_key),
    ] {
        if file.as_deref() == Some("") {
            return Err((format!("{tls_path}.{key}"), "expected a file path".into()));
        }
    }
    match (&tls.client_cert, &tls.client_key) {
        (Some(_), None) => {
            return Err((
                format!("{tls_path}.client_key"),
                "client_cert needs client_key".into(),
            ))
        }
        (None, Some(_)) => {
            return Err((
                format!("{tls_path}.client_cert"),
                "client_key needs client_cert".into(),
            ))
        }
        _ => {}
    }
    if let Some(problem) = super::validate_uds::tls_problem(cluster, path) {
        return Err(problem);
    }
    Ok(())
}

fn is_cookie_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn validate_routes(gw: &GatewayConfig) -> Result<(), Problem> {
    if gw.routes.is_empty() {
        return Err((
            "gateway.routes".into(),
            "expected at least one route".into(),
        ));
    }
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, route) in gw.routes.iter().enumerate() {
        let path = format!("gateway.routes[{i}]");
        if !gw.clusters.contains_key(&route.cluster) {
            let known: Vec<&str> = gw.clusters.keys().map(String::as_str).collect();
            return Err((
                format!("{path}.cluster"),
                format!(
                    "unknown cluster `{}`; expected one of: {}",
                    route.cluster,
                    known.join(", ")
                ),
            ));
        }
        let name = route.name.clone().unwrap_or_else(|| format!("route{i}"));
        if let Some(first) = names.insert(name.clone(), i) {
            return Err((
                format!("{path}.name"),
                format!("route name `{name}` is already used by gateway.routes[{first}]"),
            ));
        }
        validate_match(&route.matcher, &format!("{path}.match"))?;
        if route.websocket_idle_timeout.0.is_zero() {
            return Err((
                format!("{path}.websocket_idle_timeout"),
                "expected a positive duration".into(),
            ));
        }
        if route.redirect_https && !gw.listeners.iter().any(|l| l.tls.is_some()) {
            return Err((
                format!("{path}.redirect_https"),
                "no listener has `tls`; redirect_https needs an HTTPS listener to send clients to"
                    .into(),
            ));
        }
        super::validate_security::validate_route_security(route, &gw.downstream, &path)?;
        if let Some(cache) = &route.cache {
            super::cache::validate_route_cache(cache, &format!("{path}.cache"))?;
        }
        if let Some(auth) = &route.auth {
            super::auth::validate_route_auth(auth, &format!("{path}.auth"))?;
        }
        if let Some(rw) = &route.rewrite {
            if rw.strip_prefix && rw.replace_prefix.is_some() {
                return Err((
                    format!("{path}.rewrite"),
                    "use either strip_prefix or replace_prefix, not both".into(),
                ));
            }
            if (rw.strip_prefix || rw.replace_prefix.is_some())
                && route.matcher.path_prefix.is_none()
            {
                return Err((
                    format!("{path}.rewrite"),
                    "prefix rewriting needs match.path_prefix".into(),
                ));
            }
            if let Some(p) = &rw.replace_prefix {
                if !p.starts_with('/') || p.contains(['?', '#']) || !is_uri_part(p) {
                    return Err((
                        format!("{path}.rewrite.replace_prefix"),
                        format!("`{p}` must start with `/` and be a valid URI path (no spaces, `?` or `#`; percent-encode other characters)"),
                    ));
                }
            }
        }
        if let Some(query) = &route.query {
            validate_query(query, &format!("{path}.query"))?;
        }
        if let Some(page) = &route.error_page {
            if HeaderValue::from_str(&page.content_type).is_err() {
                return Err((
                    format!("{path}.error_page.content_type"),
                    format!(
                        "`{}` is not a valid header value; expected a media type such as `text/html; charset=utf-8`",
                        page.content_type.escape_debug()
                    ),
                ));
            }
        }
        for (key, rules) in [
            ("request_headers", &route.request_headers),
            ("response_headers", &route.response_headers),
        ] {
            if let Some(rules) = rules {
                validate_header_rules(rules, &format!("{path}.{key}"))?;
            }
        }
    }
    Ok(())
}

/// Whether `s` (a path, or `/?` plus a query) can be part of a request URI
/// exactly as written, as the upstream request is rebuilt from it.
fn is_uri_part(s: &str) -> bool {
    http::uri::PathAndQuery::from_str(s).is_ok_and(|pq| pq.as_str() == s)
}

fn validate_query(query: &QueryConfig, path: &str) -> Result<(), Problem> {
    for (name, value) in &query.set {
        let key_path = format!("{path}.set.{name}");
        if name.is_empty() || name.contains(['&', '=', '#']) || !is_uri_part(&format!("/?{name}")) {
            return Err((
                key_path,
                format!("`{name}` is not a valid query parameter name; expected URI query characters without `&`, `=`, `#` or spaces (percent-encode others)"),
            ));
        }
        if value.contains(['&', '#']) || !is_uri_part(&format!("/?{name}={value}")) {
            return Err((
                key_path,
                format!("`{value}` is not a valid query parameter value; expected URI query characters without `&`, `#` or spaces (percent-encode others)"),
            ));
        }
    }
    for (i, name) in query.remove.iter().enumerate() {
        if name.is_empty() {
            return Err((
                format!("{path}.remove[{i}]"),
                "expected a query parameter name".into(),
            ));
        }
    }
    Ok(())
}

fn validate_match(m: &MatchConfig, path: &str) -> Result<(), Problem> {
    if let Some(host) = &m.host {
        let bare = host.strip_prefix("*.").unwrap_or(host);
        if bare.is_empty() || bare.contains('*') || bare.contains('/') || bare.contains(' ') {
            return Err((
                format!("{path}.host"),
                format!("`{host}` is not a host; expected `api.example.com` or `*.example.com`"),
            ));
        }
    }
    if let Some(prefix) = &m.path_prefix {
        if !prefix.starts_with('/') {
            return Err((
                format!("{path}.path_prefix"),
                format!("`{prefix}` must start with `/`"),
            ));
        }
    }
    if let Some(methods) = &m.methods {
        if methods.is_empty() {
            return Err((
                format!("{path}.methods"),
                "expected at least one method (omit the key to allow all)".into(),
            ));
        }
        for (i, method) in methods.iter().enumerate() {
            let ok = !method.is_empty()
                && method.bytes().all(|b| b.is_ascii_uppercase())
                && Method::from_bytes(method.as_bytes()).is_ok();
            if !ok {
                return Err((
                    format!("{path}.methods[{i}]"),
                    format!("`{method}` is not an upper-case HTTP method such as GET"),
                ));
            }
        }
    }
    Ok(())
}

fn validate_header_rules(rules: &HeaderRulesConfig, path: &str) -> Result<(), Problem> {
    let check_map = |map: &BTreeMap<String, String>, key: &str| -> Result<(), Problem> {
        for (name, value) in map {
            HeaderName::from_str(name).map_err(|_| {
                (
                    format!("{path}.{key}.{name}"),
                    format!("`{name}` is not a valid header name"),
                )
            })?;
            HeaderValue::from_str(value).map_err(|_| {
                (
                    format!("{path}.{key}.{name}"),
                    "the value is not a valid header value".to_string(),
                )
            })?;
        }
        Ok(())
    };
    check_map(&rules.set, "set")?;
    check_map(&rules.add, "add")?;
    for (i, name) in rules.remove.iter().enumerate() {
        HeaderName::from_str(name).map_err(|_| {
            (
                format!("{path}.remove[{i}]"),
                format!("`{name}` is not a valid header name"),
            )
        })?;
    }
    Ok(())
}
