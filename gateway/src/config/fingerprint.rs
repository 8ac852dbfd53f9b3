//! The config's identity across a fleet: a hash of the *effective* config
//! (the parsed model with every default filled in), and the same config
//! printed with its secrets redacted (`gateway -T`).
//!
//! The hash is the SHA-256 of the model serialised as canonical JSON
//! (object keys sorted, no whitespace), shown as its first
//! [`HASH_HEX_DIGITS`] hex digits. Key order, comments, whitespace, `1s`
//! versus `1000ms` and whether a value came from `${ENV}` do not change it;
//! any effective setting does. Each secret enters the hash input as its own
//! SHA-256, so instances with different secrets get different hashes while
//! no secret is ever printed. Files the config names (certificates, keys,
//! error pages, JWT keys) count by path, not by content.

use super::auth::{ApiKeyEntry, RouteAuthConfig};
use super::model::{Config, HeaderRulesConfig};
use ring::digest::{digest, SHA256};
use serde_json::Value;
use std::fmt::Write as _;

/// Hex digits of the SHA-256 shown as the config hash (64 bits).
pub const HASH_HEX_DIGITS: usize = 16;

/// Hex digits of a secret's SHA-256 shown by `-T`, enough to tell two
/// instances' secrets apart without printing a full digest.
const SECRET_HEX_DIGITS: usize = 8;

fn sha256_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    for b in digest(&SHA256, bytes).as_ref() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The config hash of `config`: the first [`HASH_HEX_DIGITS`] hex digits of
/// the SHA-256 of its canonical form (secrets replaced by their SHA-256).
pub fn config_hash(config: &Config) -> String {
    let hidden = with_secrets(config, &|s| format!("sha256:{}", sha256_hex(s.as_bytes())));
    let mut text = String::new();
    match serde_json::to_value(&hidden) {
        Ok(value) => canonical_json(&value, &mut text),
        // Every map key of the model is a string, so this cannot happen;
        // the debug form still changes with every setting.
        Err(_) => text = format!("{hidden:?}"),
    }
    let mut hex = sha256_hex(text.as_bytes());
    hex.truncate(HASH_HEX_DIGITS);
    hex
}

/// `config` with each secret replaced by `<redacted sha256:XXXXXXXX…>`
/// (the first hex digits of the secret's SHA-256).
pub fn redacted(config: &Config) -> Config {
    with_secrets(config, &|s| {
        let mut hex = sha256_hex(s.as_bytes());
        hex.truncate(SECRET_HEX_DIGITS);
        format!("<redacted sha256:{hex}…>")
    })
}

/// What `gateway -T` prints: a comment naming the source and the hash, then
/// the effective config as YAML with its secrets redacted.
pub fn dump(config: &Config, source: &str) -> String {
    let yaml = serde_yaml::to_string(&redacted(config))
        .unwrap_or_else(|e| format!("# the config could not be printed: {e}\n"));
    format!(
        "# effective config of {source} (defaults filled in, secrets redacted)\n\
         # config hash: {} (SHA-256 of the canonical effective config, first {HASH_HEX_DIGITS} hex digits)\n\
         {yaml}",
        config_hash(config)
    )
}

/// Whether a header or query parameter the gateway sets carries a
/// credential by its name: its value is then treated as a secret.
fn sensitive_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    ) || [
        "token", "secret", "password", "passwd", "api-key", "api_key", "apikey",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// A copy of `config` with every secret `s` replaced by `hide(s)`: the
/// admin token, sticky cookie secrets, API keys, Basic password hashes,
/// JWT HMAC secrets, and the values of headers and query parameters with
/// a credential's name ([`sensitive_name`]).
fn with_secrets(config: &Config, hide: &dyn Fn(&str) -> String) -> Config {
    let mut c = config.clone();
    let gw = &mut c.gateway;
    if let Some(token) = gw.admin.as_mut().and_then(|a| a.token.as_mut()) {
        *token = hide(token);
    }
    for cluster in gw.clusters.values_mut() {
        if let Some(secret) = cluster.sticky.as_mut().and_then(|s| s.secret.as_mut()) {
            *secret = hide(secret);
        }
    }
    let hide_named = |map: &mut std::collections::BTreeMap<String, String>| {
        for (name, value) in map.iter_mut() {
            if sensitive_name(name) {
                *value = hide(value);
            }
        }
    };
    let hide_rules = |rules: &mut Option<HeaderRulesConfig>| {
        if let Some(rules) = rules {
            hide_named(&mut rules.set);
            hide_named(&mut rules.add);
        }
    };
    for route in &mut gw.routes {
        hide_rules(&mut route.request_headers);
        hide_rules(&mut route.response_headers);
        if let Some(query) = &mut route.query {
            hide_named(&mut query.set);
        }
        match &mut route.auth {
            Some(RouteAuthConfig::ApiKey(a)) => {
                for entry in &mut a.keys {
                    match entry {
                        ApiKeyEntry::Plain(key) | ApiKeyEntry::Named { key, .. } => {
                            *key = hide(key)
                        }
                    }
                }
            }
            Some(RouteAuthConfig::Basic(b)) => {
                for hash in b.users.values_mut() {
                    *hash = hide(hash);
                }
            }
            Some(RouteAuthConfig::Jwt(j)) => {
                if let Some(secret) = &mut j.secret {
                    *secret = hide(secret);
                }
            }
            None => {}
        }
    }
    c
}

/// JSON with object keys sorted and no whitespace, whatever order the map
/// type keeps.
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secrets that must never be printed.
    const SECRETS: [&str; 6] = [
        "admin-token-0123456789",
        "sticky-secret-value",
        "plain-api-key-value",
        "named-api-key-value",
        "jwt-hmac-secret-value-0123456789abcdef",
        "upstream-bearer-value",
    ];
    const BASIC_HASH: &str = "$2b$04$abcdefghijklmnopqrstuu5Dz2YwqCbsS7DMkAf3mn8T3.1ViZSO6";

    fn parse(text: &str) -> Config {
        let lookup = |k: &str| match k {
            "ADMIN_TOKEN" => Some("admin-token-0123456789".to_string()),
            "API_PORT" => Some("3001".to_string()),
            _ => None,
        };
        match crate::config::parse(text, "t.yaml", &lookup) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn base() -> String {
        format!(
            r#"
version: 1
gateway:
  listeners: [ {{ address: "127.0.0.1:6188" }} ]
  admin: {{ address: "127.0.0.1:9090", token: "admin-token-0123456789" }}
  clusters:
    api:
      endpoints: [ {{ address: "127.0.0.1:3001" }} ]
      sticky: {{ cookie: pin, secret: sticky-secret-value }}
      timeouts: {{ read: 1s }}
  routes:
    - name: keys
      match: {{ path_prefix: /keys }}
      cluster: api
      auth: {{ kind: api_key, keys: [ plain-api-key-value, {{ name: alice, key: named-api-key-value }} ] }}
      request_headers: {{ set: {{ authorization: "Bearer upstream-bearer-value", x-team: blue }} }}
    - name: basic
      match: {{ path_prefix: /basic }}
      cluster: api
      auth: {{ kind: basic, users: {{ bob: "{BASIC_HASH}" }} }}
    - name: jwt
      match: {{ path_prefix: /jwt }}
      cluster: api
      auth: {{ kind: jwt, algorithms: [HS256], secret: jwt-hmac-secret-value-0123456789abcdef }}
"#
        )
    }

    #[test]
    fn the_hash_ignores_key_order_comments_and_env_spelling() {
        let original = parse(&base());
        // Same settings: keys reordered, comments, other whitespace, a
        // duration spelled differently, a default written out, values
        // from `${ENV}`.
        let respelled = base()
            .replace(
                "version: 1\ngateway:",
                "# the fleet's config\ngateway:   # gateway settings",
            )
            .replace(
                "  listeners: [ { address: \"127.0.0.1:6188\" } ]\n",
                "",
            )
            .replace(
                "  admin: { address: \"127.0.0.1:9090\", token: \"admin-token-0123456789\" }",
                "  admin: { token: \"${ADMIN_TOKEN}\",   address: \"127.0.0.1:9090\" }\n  listeners:\n    - address: \"127.0.0.1:6188\"",
            )
            .replace("127.0.0.1:3001", "127.0.0.1:${API_PORT}")
            .replace("timeouts: { read: 1s }", "timeouts: { read: 1000ms, connect: 3s }")
            + "version: 1\n";
        assert_ne!(respelled, base());
        let respelled = parse(&respelled);
        assert_eq!(respelled, original);
        assert_eq!(config_hash(&respelled), config_hash(&original));
        assert_eq!(config_hash(&original).len(), HASH_HEX_DIGITS);
        assert!(config_hash(&original)
            .bytes()
            .all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn the_hash_changes_with_a_route() {
        let original = config_hash(&parse(&base()));
        let moved = config_hash(&parse(
            &base().replace("path_prefix: /jwt", "path_prefix: /jw"),
        ));
        assert_ne!(original, moved);
        let reordered = base().replace(
            "    - name: basic\n      match: { path_prefix: /basic }",
            "    - name: basic\n      match: { path_prefix: /basic, methods: [GET] }",
        );
        assert_ne!(original, config_hash(&parse(&reordered)));
    }

    #[test]
    fn the_hash_changes_with_each_secret() {
        let original = config_hash(&parse(&base()));
        let other_hash = BASIC_HASH.replace("$abcdef", "$bbcdef");
        let changes = SECRETS
            .iter()
            .map(|s| (s.to_string(), format!("{s}X")))
            .chain([(BASIC_HASH.to_string(), other_hash)]);
        for (secret, changed) in changes {
            let changed = base().replace(&secret, &changed);
            assert_ne!(
                original,
                config_hash(&parse(&changed)),
                "changing `{secret}` changes the hash"
            );
        }
    }

    #[test]
    fn no_secret_appears_in_the_dump() {
        let config = parse(&base());
        let dump = dump(&config, "t.yaml");
        for secret in SECRETS.iter().copied().chain([BASIC_HASH]) {
            assert!(!dump.contains(secret), "`{secret}` printed:\n{dump}");
        }
        assert!(dump.contains(&config_hash(&config)), "{dump}");
        assert!(dump.contains("<redacted sha256:"), "{dump}");
        // Not a secret: kept.
        assert!(dump.contains("x-team: blue"), "{dump}");
        // Defaults are filled in.
        assert!(dump.contains("grace_period_seconds: 5"), "{dump}");
    }

    #[test]
    fn a_dump_without_secrets_reads_back_to_the_same_hash() {
        let text = base()
            .replace(", token: \"admin-token-0123456789\"", "")
            .replace(", secret: sticky-secret-value", "");
        let text = text
            .split("    - name: keys")
            .next()
            .map(|head| head.to_string() + "    - { name: open, cluster: api }\n")
            .unwrap_or_default();
        let config = parse(&text);
        let back = parse(&dump(&config, "t.yaml"));
        assert_eq!(back, config);
        assert_eq!(config_hash(&back), config_hash(&config));
    }

    #[test]
    fn credential_names_are_recognised() {
        for name in [
            "Authorization",
            "x-api-key",
            "X-Auth-Token",
            "cookie",
            "api_key",
        ] {
            assert!(sensitive_name(name), "{name}");
        }
        for name in ["x-team", "accept", "x-request-id"] {
            assert!(!sensitive_name(name), "{name}");
        }
    }
}
