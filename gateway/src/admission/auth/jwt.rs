//! `kind: jwt`: a bearer token (RFC 6750) verified with `jsonwebtoken`.
//!
//! The signature must use one of the configured algorithms (all of one
//! family, so an RSA public key can never be used as an HMAC secret);
//! `exp` is required, `nbf`, `iss` and `aud` are checked, both time
//! claims with `leeway`. The identity is the `sub` claim, which must be
//! present.

use super::metrics::Reason;
use crate::config::auth::{jwt_family, JwtConfig};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

/// A route's key and validation rules.
pub(crate) struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

/// The claims the gateway reads itself (the time, issuer and audience
/// claims are checked by `jsonwebtoken`).
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
}

/// The token of an `Authorization: Bearer ...` value.
pub(crate) fn bearer_token(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl JwtVerifier {
    /// Compiles a validated `jwt` section; `base` resolves a relative
    /// `key_file`. The error says what is wrong with the key (the caller
    /// adds the file and key path).
    pub(crate) fn new(cfg: &JwtConfig, base: &Path) -> Result<Self, (&'static str, String)> {
        let algorithms: Vec<Algorithm> = cfg
            .algorithms
            .iter()
            .map(|a| {
                Algorithm::from_str(a)
                    .map_err(|_| ("algorithms", format!("unknown algorithm `{a}`")))
            })
            .collect::<Result<_, _>>()?;
        let family = cfg.algorithms.first().and_then(|a| jwt_family(a));
        let key = match (family, &cfg.secret, &cfg.key_file) {
            (Some("HMAC"), Some(secret), _) => DecodingKey::from_secret(secret.as_bytes()),
            (Some(f), _, Some(file)) => {
                let path = base.join(file);
                let pem = std::fs::read(&path)
                    .map_err(|e| ("key_file", format!("cannot read `{}`: {e}", path.display())))?;
                let parsed = if f == "EC" {
                    DecodingKey::from_ec_pem(&pem)
                } else {
                    DecodingKey::from_rsa_pem(&pem)
                };
                parsed.map_err(|e| {
                    (
                        "key_file",
                        format!("`{}` is not a PEM {f} public key: {e}", path.display()),
                    )
                })?
            }
            _ => return Err(("algorithms", "no key for these algorithms".into())),
        };
        let first = *algorithms
            .first()
            .ok_or(("algorithms", "expected at least one algorithm".to_string()))?;
        let mut validation = Validation::new(first);
        validation.algorithms = algorithms;
        validation.leeway = cfg.leeway.map_or(0, |l| l.0.as_secs());
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &cfg.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &cfg.issuer {
            validation.set_issuer(&[iss]);
        }
        Ok(JwtVerifier { key, validation })
    }

    /// The subject of the bearer token in an `Authorization` value.
    pub(crate) fn verify(&self, header: Option<&[u8]>) -> Result<Arc<str>, Reason> {
        let value = header.ok_or(Reason::Missing)?;
        let token = bearer_token(value).ok_or(Reason::Invalid)?;
        match jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation) {
            Ok(data) => data
                .claims
                .sub
                .filter(|s| !s.is_empty() && http::HeaderValue::from_str(s).is_ok())
                .map(Arc::from)
                .ok_or(Reason::Invalid),
            Err(e) if *e.kind() == ErrorKind::ExpiredSignature => Err(Reason::Expired),
            Err(_) => Err(Reason::Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use std::time::{SystemTime, UNIX_EPOCH};

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn verifier(leeway: u64) -> JwtVerifier {
        JwtVerifier::new(
            &JwtConfig {
                algorithms: vec!["HS256".into()],
                secret: Some(SECRET.into()),
                key_file: None,
                issuer: Some("issuer".into()),
                audience: Some("api".into()),
                leeway: Some(crate::config::HumanDuration(
                    std::time::Duration::from_secs(leeway),
                )),
                forward_as: None,
                strip: true,
            },
            Path::new("."),
        )
        .unwrap()
    }

    fn token(claims: serde_json::Value, secret: &str) -> Vec<u8> {
        let t = encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        format!("Bearer {t}").into_bytes()
    }

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[test]
    fn claims_are_checked() {
        let v = verifier(0);
        let ok =
            serde_json::json!({ "sub": "u1", "exp": now() + 60, "iss": "issuer", "aud": "api" });
        assert_eq!(&*v.verify(Some(&token(ok.clone(), SECRET))).unwrap(), "u1");
        assert_eq!(
            v.verify(Some(&token(ok, "another-secret-another-secret-xx"))),
            Err(Reason::Invalid)
        );
        let expired =
            serde_json::json!({ "sub": "u1", "exp": now() - 60, "iss": "issuer", "aud": "api" });
        assert_eq!(
            v.verify(Some(&token(expired.clone(), SECRET))),
            Err(Reason::Expired)
        );
        assert_eq!(
            &*verifier(120).verify(Some(&token(expired, SECRET))).unwrap(),
            "u1"
        );
        let wrong_iss =
            serde_json::json!({ "sub": "u1", "exp": now() + 60, "iss": "x", "aud": "api" });
        assert_eq!(
            v.verify(Some(&token(wrong_iss, SECRET))),
            Err(Reason::Invalid)
        );
        let wrong_aud =
            serde_json::json!({ "sub": "u1", "exp": now() + 60, "iss": "issuer", "aud": "x" });
        assert_eq!(
            v.verify(Some(&token(wrong_aud, SECRET))),
            Err(Reason::Invalid)
        );
        let early = serde_json::json!({ "sub": "u1", "exp": now() + 600, "nbf": now() + 300, "iss": "issuer", "aud": "api" });
        assert_eq!(v.verify(Some(&token(early, SECRET))), Err(Reason::Invalid));
        let no_sub = serde_json::json!({ "exp": now() + 60, "iss": "issuer", "aud": "api" });
        assert_eq!(v.verify(Some(&token(no_sub, SECRET))), Err(Reason::Invalid));
        assert_eq!(v.verify(None), Err(Reason::Missing));
        assert_eq!(v.verify(Some(b"Basic abc")), Err(Reason::Invalid));
    }
}
