//! A route's `auth` section (API keys, HTTP Basic, JWT bearer tokens) and
//! its checks. Secrets may come from the environment (`${VAR}`, expanded
//! for the whole file by `env.rs`); they never appear in debug output.

use super::values::HumanDuration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Shown instead of a secret in debug output.
const REDACTED: &str = "<redacted>";

/// JWT algorithms accepted in `algorithms`.
pub const JWT_ALGORITHMS: [&str; 11] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384",
];

/// How a route authenticates its clients.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RouteAuthConfig {
    /// A static key in a header or query parameter.
    ApiKey(ApiKeyConfig),
    /// HTTP Basic with argon2 or bcrypt password hashes.
    Basic(BasicConfig),
    /// A JWT bearer token in `Authorization`.
    Jwt(JwtConfig),
}

impl RouteAuthConfig {
    /// Header that carries the identity upstream.
    pub fn forward_as(&self) -> Option<&str> {
        match self {
            RouteAuthConfig::ApiKey(c) => c.forward_as.as_deref(),
            RouteAuthConfig::Basic(c) => c.forward_as.as_deref(),
            RouteAuthConfig::Jwt(c) => c.forward_as.as_deref(),
        }
    }

    /// Whether the credential is removed before the request goes upstream.
    pub fn strip(&self) -> bool {
        match self {
            RouteAuthConfig::ApiKey(c) => c.strip,
            RouteAuthConfig::Basic(c) => c.strip,
            RouteAuthConfig::Jwt(c) => c.strip,
        }
    }
}

/// `kind: api_key`.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Request header holding the key (`X-API-Key` when neither this nor
    /// `query` is given).
    #[serde(default)]
    pub header: Option<String>,
    /// Query parameter holding the key (instead of a header).
    #[serde(default)]
    pub query: Option<String>,
    /// Accepted keys: plain strings (identity `key<N>`, N its index) or
    /// `{ name, key }`.
    pub keys: Vec<ApiKeyEntry>,
    /// Header that carries the identity upstream.
    #[serde(default)]
    pub forward_as: Option<String>,
    /// Remove the key before the request goes upstream.
    #[serde(default = "default_true")]
    pub strip: bool,
}

/// One accepted API key.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ApiKeyEntry {
    /// A key whose identity is `key<N>`.
    Plain(String),
    /// A key with the identity `name`.
    Named {
        /// Identity of the key's holder.
        name: String,
        /// The key.
        key: String,
    },
}

impl ApiKeyEntry {
    /// The key bytes.
    pub fn key(&self) -> &str {
        match self {
            ApiKeyEntry::Plain(k) => k,
            ApiKeyEntry::Named { key, .. } => key,
        }
    }

    /// The identity of entry `index`.
    pub fn identity(&self, index: usize) -> String {
        match self {
            ApiKeyEntry::Plain(_) => format!("key{index}"),
            ApiKeyEntry::Named { name, .. } => name.clone(),
        }
    }
}

impl std::fmt::Debug for ApiKeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| k.identity(i))
            .collect();
        f.debug_struct("ApiKeyConfig")
            .field("header", &self.header)
            .field("query", &self.query)
            .field("keys", &names)
            .field("forward_as", &self.forward_as)
            .field("strip", &self.strip)
            .finish()
    }
}

/// `kind: basic`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicConfig {
    /// Realm named in `WWW-Authenticate`.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// User name to password hash (`$argon2id$...` or bcrypt `$2b$...`).
    pub users: BTreeMap<String, String>,
    /// Header that carries the identity upstream.
    #[serde(default)]
    pub forward_as: Option<String>,
    /// Remove `Authorization` before the request goes upstream.
    #[serde(default = "default_true")]
    pub strip: bool,
}

/// `kind: jwt`.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Accepted signature algorithms, all of one family (HMAC, RSA or EC).
    pub algorithms: Vec<String>,
    /// HMAC secret (`HS*`).
    #[serde(default)]
    pub secret: Option<String>,
    /// PEM public key (`RS*`, `PS*`, `ES*`), relative to the config file.
    #[serde(default)]
    pub key_file: Option<String>,
    /// Required `iss`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Required `aud` (one of the token's audiences).
    #[serde(default)]
    pub audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(default)]
    pub leeway: Option<HumanDuration>,
    /// Header that carries the identity (`sub`) upstream.
    #[serde(default)]
    pub forward_as: Option<String>,
    /// Remove `Authorization` before the request goes upstream.
    #[serde(default = "default_true")]
    pub strip: bool,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("algorithms", &self.algorithms)
            .field("secret", &self.secret.as_ref().map(|_| REDACTED))
            .field("key_file", &self.key_file)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field("forward_as", &self.forward_as)
            .field("strip", &self.strip)
            .finish()
    }
}

fn default_true() -> bool {
    true
}

fn default_realm() -> String {
    "gateway".into()
}

type Problem = (String, String);

fn header_name(value: &str, path: String) -> Result<(), Problem> {
    http::HeaderName::from_bytes(value.as_bytes())
        .map(|_| ())
        .map_err(|_| (path, format!("`{value}` is not a valid header name")))
}

/// Which password hash a `users` value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordHashKind {
    /// PHC string `$argon2id$...` (or argon2i / argon2d).
    Argon2,
    /// bcrypt `$2a$`, `$2b$`, `$2x$` or `$2y$`.
    Bcrypt,
}

/// Recognises an argon2 or bcrypt hash; anything else (a plaintext
/// password) is an error.
pub fn password_hash_kind(hash: &str) -> Result<PasswordHashKind, String> {
    if hash.starts_with("$argon2") {
        let parsed = argon2::PasswordHash::new(hash)
            .map_err(|e| format!("not a valid argon2 hash ({e})"))?;
        argon2::Algorithm::try_from(parsed.algorithm)
            .map_err(|e| format!("not a valid argon2 hash ({e})"))?;
        argon2::Params::try_from(&parsed).map_err(|e| format!("not a valid argon2 hash ({e})"))?;
        if parsed.salt.is_none() || parsed.hash.is_none() {
            return Err("not a valid argon2 hash (expected a salt and a hash)".into());
        }
        return Ok(PasswordHashKind::Argon2);
    }
    if ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|p| hash.starts_with(p))
    {
        return hash
            .parse::<bcrypt::HashParts>()
            .map(|_| PasswordHashKind::Bcrypt)
            .map_err(|e| format!("not a valid bcrypt hash ({e})"));
    }
    Err(
        "expected an argon2 (`$argon2id$...`) or bcrypt (`$2b$...`) hash; \
         plaintext passwords are not accepted"
            .into(),
    )
}

/// Checks a route's `auth` section at key path `path`.
pub fn validate_route_auth(auth: &RouteAuthConfig, path: &str) -> Result<(), Problem> {
    if let Some(h) = auth.forward_as() {
        header_name(h, format!("{path}.forward_as"))?;
    }
    match auth {
        RouteAuthConfig::ApiKey(c) => validate_api_key(c, path),
        RouteAuthConfig::Basic(c) => validate_basic(c, path),
        RouteAuthConfig::Jwt(c) => validate_jwt(c, path),
    }
}

fn validate_api_key(c: &ApiKeyConfig, path: &str) -> Result<(), Problem> {
    match (&c.header, &c.query) {
        (Some(_), Some(_)) => {
            return Err((
                format!("{path}.query"),
                "expected either `header` or `query`, not both".into(),
            ))
        }
        (Some(h), None) => header_name(h, format!("{path}.header"))?,
        (None, Some(q)) if q.is_empty() || q.contains(['&', '=', '#']) => {
            return Err((
                format!("{path}.query"),
                format!("`{q}` is not a query parameter name"),
            ))
        }
        _ => {}
    }
    if c.keys.is_empty() {
        return Err((format!("{path}.keys"), "expected at least one key".into()));
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, entry) in c.keys.iter().enumerate() {
        if entry.key().is_empty() {
            return Err((
                format!("{path}.keys[{i}]"),
                "expected a non-empty key (is its environment variable empty?)".into(),
            ));
        }
        let name = entry.identity(i);
        if name.is_empty() || http::HeaderValue::from_str(&name).is_err() {
            return Err((
                format!("{path}.keys[{i}].name"),
                "expected a non-empty name that fits in a header value".into(),
            ));
        }
        if !names.insert(name.clone()) {
            return Err((
                format!("{path}.keys[{i}].name"),
                format!("`{name}` names two keys"),
            ));
        }
    }
    Ok(())
}

fn validate_basic(c: &BasicConfig, path: &str) -> Result<(), Problem> {
    if c.realm.contains(['"', '\\']) || http::HeaderValue::from_str(&c.realm).is_err() {
        return Err((
            format!("{path}.realm"),
            "expected a realm without quotes, backslashes or control characters".into(),
        ));
    }
    if c.users.is_empty() {
        return Err((format!("{path}.users"), "expected at least one user".into()));
    }
    for (user, hash) in &c.users {
        if user.is_empty() || user.contains(':') || http::HeaderValue::from_str(user).is_err() {
            return Err((
                format!("{path}.users.{user}"),
                "expected a user name without `:` or control characters".into(),
            ));
        }
        password_hash_kind(hash).map_err(|m| (format!("{path}.users.{user}"), m))?;
    }
    Ok(())
}

/// The family of a JWT algorithm name.
pub fn jwt_family(alg: &str) -> Option<&'static str> {
    match alg {
        "HS256" | "HS384" | "HS512" => Some("HMAC"),
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => Some("RSA"),
        "ES256" | "ES384" => Some("EC"),
        _ => None,
    }
}

fn validate_jwt(c: &JwtConfig, path: &str) -> Result<(), Problem> {
    if c.algorithms.is_empty() {
        return Err((
            format!("{path}.algorithms"),
            "expected at least one algorithm".into(),
        ));
    }
    let mut family = None;
    for (i, alg) in c.algorithms.iter().enumerate() {
        let Some(f) = jwt_family(alg) else {
            return Err((
                format!("{path}.algorithms[{i}]"),
                format!(
                    "unknown algorithm `{alg}`; expected one of {}",
                    JWT_ALGORITHMS.join(", ")
                ),
            ));
        };
        match family {
            Some(prev) if prev != f => {
                return Err((
                    format!("{path}.algorithms[{i}]"),
                    format!("`{alg}` is {f} but an earlier algorithm is {prev}; one key verifies one family"),
                ))
            }
            _ => family = Some(f),
        }
    }
    match (family, &c.secret, &c.key_file) {
        (Some("HMAC"), None, _) => Err((
            format!("{path}.secret"),
            "HMAC algorithms need a `secret` (e.g. `secret: ${JWT_SECRET}`)".into(),
        )),
        (Some("HMAC"), Some(s), _) if s.len() < 32 => Err((
            format!("{path}.secret"),
            "expected a secret of at least 32 bytes".into(),
        )),
        (Some("HMAC"), Some(_), Some(_)) => Err((
            format!("{path}.key_file"),
            "HMAC algorithms use `secret`, not `key_file`".into(),
        )),
        (Some(f), _, None) if f != "HMAC" => Err((
            format!("{path}.key_file"),
            format!("{f} algorithms need `key_file` (a PEM public key)"),
        )),
        (Some(f), Some(_), Some(_)) if f != "HMAC" => Err((
            format!("{path}.secret"),
            format!("{f} algorithms use `key_file`, not `secret`"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_passwords_are_refused_and_hashes_recognised() {
        assert!(password_hash_kind("hunter2")
            .unwrap_err()
            .contains("plaintext"));
        let bcrypt = bcrypt::hash("pw", 4).unwrap();
        assert_eq!(password_hash_kind(&bcrypt), Ok(PasswordHashKind::Bcrypt));
        assert!(password_hash_kind("$2b$04$short").is_err());
        assert!(password_hash_kind("$argon2id$nonsense").is_err());
    }

    #[test]
    fn jwt_algorithms_must_be_known_and_of_one_family() {
        let jwt = |algs: &[&str], secret: Option<&str>, key: Option<&str>| JwtConfig {
            algorithms: algs.iter().map(|s| s.to_string()).collect(),
            secret: secret.map(String::from),
            key_file: key.map(String::from),
            issuer: None,
            audience: None,
            leeway: None,
            forward_as: None,
            strip: true,
        };
        let long = "0123456789abcdef0123456789abcdef";
        assert!(validate_jwt(&jwt(&["HS256"], Some(long), None), "a").is_ok());
        assert!(validate_jwt(&jwt(&["ES256"], None, Some("k.pem")), "a").is_ok());
        let (path, msg) = validate_jwt(&jwt(&["HS257"], Some(long), None), "a").unwrap_err();
        assert_eq!(path, "a.algorithms[0]");
        assert!(msg.contains("unknown algorithm"));
        assert!(validate_jwt(&jwt(&["HS256", "RS256"], Some(long), None), "a").is_err());
        assert_eq!(
            validate_jwt(&jwt(&["HS256"], None, None), "a")
                .unwrap_err()
                .0,
            "a.secret"
        );
        assert_eq!(
            validate_jwt(&jwt(&["RS256"], None, None), "a")
                .unwrap_err()
                .0,
            "a.key_file"
        );
    }
}
