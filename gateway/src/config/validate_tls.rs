//! Checks for HTTPS listeners and the TLS keys of routes that need no file
//! access (files are read and matched when the config is compiled).

use super::model::GatewayConfig;
use super::tls::{ListenerTlsConfig, SNI_FROM_HOST};
use http::HeaderName;
use std::collections::HashMap;

/// (key path, message).
type Problem = (String, String);

/// The first problem in the listeners' `tls` sections and the routes'
/// `client_cert`, `client_cert_header` and `upstream_sni`.
pub(super) fn validate_tls(gw: &GatewayConfig) -> Result<(), Problem> {
    for (i, listener) in gw.listeners.iter().enumerate() {
        let Some(tls) = &listener.tls else {
            continue;
        };
        let path = format!("gateway.listeners[{i}]");
        if listener.h2c {
            return Err((
                format!("{path}.h2c"),
                "`h2c` is HTTP/2 over plaintext and cannot be combined with `tls`; use `tls.h2: true` for HTTP/2 over TLS".into(),
            ));
        }
        validate_listener_tls(tls, &format!("{path}.tls"))?;
    }
    for (i, route) in gw.routes.iter().enumerate() {
        let path = format!("gateway.routes[{i}]");
        if let Some(m) = &route.client_cert {
            if m.cn.is_empty() && m.san.is_empty() {
                return Err((
                    format!("{path}.client_cert"),
                    "expected at least one accepted name in `cn` or `san`".into(),
                ));
            }
        }
        if let Some(name) = &route.client_cert_header {
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err((
                    format!("{path}.client_cert_header"),
                    format!("`{name}` is not a valid header name; expected e.g. `X-Client-CN`"),
                ));
            }
        }
        if let Some(sni) = &route.upstream_sni {
            let cluster_tls = gw.clusters.get(&route.cluster).and_then(|c| c.tls.as_ref());
            if cluster_tls.is_none() {
                return Err((
                    format!("{path}.upstream_sni"),
                    format!(
                        "cluster `{}` has no `tls`; upstream_sni applies to TLS clusters only",
                        route.cluster
                    ),
                ));
            }
            if sni != SNI_FROM_HOST && !is_dns_name(sni) {
                return Err((
                    format!("{path}.upstream_sni"),
                    format!("`{sni}` is not a server name; expected a DNS name such as `api.internal` or `{SNI_FROM_HOST}`"),
                ));
            }
        }
    }
    Ok(())
}

fn validate_listener_tls(tls: &ListenerTlsConfig, path: &str) -> Result<(), Problem> {
    for (key, value) in [("cert", &tls.cert), ("key", &tls.key)] {
        if value.is_empty() {
            return Err((format!("{path}.{key}"), "expected a PEM file path".into()));
        }
    }
    let mut owners: HashMap<String, usize> = HashMap::new();
    for (j, entry) in tls.certificates.iter().enumerate() {
        let entry_path = format!("{path}.certificates[{j}]");
        if entry.hosts.is_empty() {
            return Err((
                format!("{entry_path}.hosts"),
                "expected at least one server name".into(),
            ));
        }
        for (k, host) in entry.hosts.iter().enumerate() {
            let bare = host.strip_prefix("*.").unwrap_or(host);
            if !is_dns_name(bare) {
                return Err((
                    format!("{entry_path}.hosts[{k}]"),
                    format!("`{host}` is not a server name; expected `api.example.com` or `*.example.org`"),
                ));
            }
            if let Some(first) = owners.insert(host.to_ascii_lowercase(), j) {
                return Err((
                    format!("{entry_path}.hosts[{k}]"),
                    format!("`{host}` is already listed in {path}.certificates[{first}]; each server name belongs to one certificate"),
                ));
            }
        }
    }
    if let Some(auth) = &tls.client_auth {
        if auth.ca.as_deref().is_none_or(str::is_empty) {
            return Err((
                format!("{path}.client_auth.ca"),
                "client_auth needs `ca`: the PEM file of the CA certificates that sign client certificates".into(),
            ));
        }
    }
    Ok(())
}

/// A DNS name: dot-separated labels of letters, digits and `-`, not an IP
/// address and without a trailing dot.
fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.parse::<std::net::IpAddr>().is_err()
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::is_dns_name;

    #[test]
    fn dns_names_exclude_addresses_wildcards_and_empty_labels() {
        assert!(is_dns_name("a.example.test"));
        assert!(is_dns_name("localhost"));
        assert!(!is_dns_name("127.0.0.1"));
        assert!(!is_dns_name("*.example.org"));
        assert!(!is_dns_name("a..b"));
        assert!(!is_dns_name(""));
        assert!(!is_dns_name("a b"));
    }
}
