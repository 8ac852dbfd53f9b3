//! Per-run JWT material: an ES256 key pair (the public key as a PEM file
//! for gateway configs, `${certs.jwt_public}`), a second, unrelated key,
//! and tokens signed with them for scenario traffic (`${jwt.valid}`,
//! `${jwt.expired}`, `${jwt.bad_signature}`).
//!
//! Every token has `sub` [`SUBJECT`], `iss` [`ISSUER`] and `aud`
//! [`AUDIENCE`]. `valid` expires an hour after generation, `expired` an
//! hour before it (well past any sensible `leeway`), and `bad_signature`
//! has valid claims signed by the unrelated key.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rcgen::KeyPair;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// `sub` of the generated tokens.
pub const SUBJECT: &str = "scenario-user";
/// `iss` of the generated tokens.
pub const ISSUER: &str = "gateway-tests";
/// `aud` of the generated tokens.
pub const AUDIENCE: &str = "gateway";
/// How far `exp` lies from the generation time, ahead or behind.
const LIFETIME_SECS: i64 = 3600;

/// The key pair, the unrelated key, and the public key file.
pub struct JwtKeys {
    public_path: PathBuf,
    signing: EncodingKey,
    unrelated: EncodingKey,
}

fn to_io(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("generating a JWT key: {e}"))
}

fn ec_key() -> io::Result<(KeyPair, EncodingKey)> {
    let pair = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(to_io)?;
    let encoding = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).map_err(to_io)?;
    Ok((pair, encoding))
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl JwtKeys {
    /// Generates the keys and writes the public key to `dir/jwt-public.pem`.
    pub fn generate(dir: &Path) -> io::Result<JwtKeys> {
        let (pair, signing) = ec_key()?;
        let (_, unrelated) = ec_key()?;
        let public_path = dir.join("jwt-public.pem");
        std::fs::write(&public_path, pair.public_key_pem())?;
        Ok(JwtKeys {
            public_path,
            signing,
            unrelated,
        })
    }

    /// The PEM public key file (SPKI) that verifies [`Self::sign`].
    pub fn public_key(&self) -> &Path {
        &self.public_path
    }

    /// `claims` signed with ES256 by the key pair.
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        sign_with(&self.signing, claims)
    }

    /// `claims` signed with ES256 by an unrelated key.
    pub fn sign_unrelated(&self, claims: &serde_json::Value) -> String {
        sign_with(&self.unrelated, claims)
    }

    /// The standard claims with `exp` at `now + offset` seconds.
    pub fn claims(exp_offset: i64) -> serde_json::Value {
        serde_json::json!({
            "sub": SUBJECT,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now_secs(),
            "exp": now_secs() + exp_offset,
        })
    }

    /// `jwt.valid`, `jwt.expired` and `jwt.bad_signature` with their tokens.
    pub fn token_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("jwt.valid", self.sign(&Self::claims(LIFETIME_SECS))),
            ("jwt.expired", self.sign(&Self::claims(-LIFETIME_SECS))),
            (
                "jwt.bad_signature",
                self.sign_unrelated(&Self::claims(LIFETIME_SECS)),
            ),
        ]
    }
}

fn sign_with(key: &EncodingKey, claims: &serde_json::Value) -> String {
    // Signing a JSON object with a valid EC key does not fail.
    encode(&Header::new(Algorithm::ES256), claims, key).expect("signing a test token")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::errors::ErrorKind;
    use jsonwebtoken::{decode, DecodingKey, Validation};

    #[test]
    fn the_run_tokens_verify_expire_and_fail_as_named() {
        let dir = tempfile::tempdir().unwrap();
        let keys = JwtKeys::generate(dir.path()).unwrap();
        let pem = std::fs::read(keys.public_key()).unwrap();
        let key = DecodingKey::from_ec_pem(&pem).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        let vars: std::collections::BTreeMap<_, _> = keys.token_vars().into_iter().collect();
        let check = |name: &str| decode::<serde_json::Value>(&vars[name], &key, &validation);
        assert_eq!(check("jwt.valid").unwrap().claims["sub"], SUBJECT);
        assert_eq!(
            *check("jwt.expired").unwrap_err().kind(),
            ErrorKind::ExpiredSignature
        );
        assert_eq!(
            *check("jwt.bad_signature").unwrap_err().kind(),
            ErrorKind::InvalidSignature
        );
    }
}
