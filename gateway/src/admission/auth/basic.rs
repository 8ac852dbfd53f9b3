//! `kind: basic`: HTTP Basic (RFC 7617) against argon2 or bcrypt hashes.
//!
//! A hash check costs milliseconds by design, so it runs on Tokio's
//! blocking pool, and a credential that passed is remembered for a while
//! (see [`super::verified`]). An unknown user is checked against another
//! user's hash all the same, so the answer takes as long as for a known
//! user with a wrong password.

use super::metrics::Reason;
use super::verified::{credential_digest, VerifiedCredentials, MAX_VERIFIED, VERIFIED_TTL};
use crate::config::auth::{password_hash_kind, BasicConfig, PasswordHashKind};
use base64::Engine;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// One user's stored hash.
struct Stored {
    name: Arc<str>,
    hash: String,
    kind: PasswordHashKind,
}

/// A route's users and its memory of verified credentials.
pub(crate) struct BasicUsers {
    users: BTreeMap<String, Arc<Stored>>,
    /// Used for unknown users so timing does not tell who exists.
    decoy: Option<Arc<Stored>>,
    verified: VerifiedCredentials,
    /// Hash checks actually run (not answered from memory).
    hash_checks: std::sync::atomic::AtomicU64,
}

/// The user and password of a `Basic` header value.
pub(crate) fn decode_credentials(value: &[u8]) -> Option<(String, String)> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn check_hash(stored: &Stored, password: &str) -> bool {
    match stored.kind {
        PasswordHashKind::Argon2 => {
            use argon2::PasswordVerifier;
            argon2::PasswordHash::new(&stored.hash).is_ok_and(|h| {
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
        }
        PasswordHashKind::Bcrypt => bcrypt::verify(password, &stored.hash).unwrap_or(false),
    }
}

impl BasicUsers {
    /// Compiles a validated `basic` section (hashes that fail to parse,
    /// which validation refuses, are skipped).
    pub(crate) fn new(cfg: &BasicConfig) -> Self {
        let users: BTreeMap<String, Arc<Stored>> = cfg
            .users
            .iter()
            .filter_map(|(user, hash)| {
                let kind = password_hash_kind(hash).ok()?;
                Some((
                    user.clone(),
                    Arc::new(Stored {
                        name: Arc::from(user.as_str()),
                        hash: hash.clone(),
                        kind,
                    }),
                ))
            })
            .collect();
        BasicUsers {
            decoy: users.values().next().cloned(),
            users,
            verified: VerifiedCredentials::new(MAX_VERIFIED, VERIFIED_TTL),
            hash_checks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The user an `Authorization` header value authenticates.
    pub(crate) async fn verify(&self, header: Option<&[u8]>) -> Result<Arc<str>, Reason> {
        let value = header.ok_or(Reason::Missing)?;
        let key = credential_digest(value);
        if let Some(user) = self.verified.get(&key, Instant::now()) {
            return Ok(user);
        }
        let (user, password) = decode_credentials(value).ok_or(Reason::Invalid)?;
        let (stored, known) = match self.users.get(&user) {
            Some(s) => (s.clone(), true),
            None => (self.decoy.clone().ok_or(Reason::Invalid)?, false),
        };
        self.hash_checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let checked = stored.clone();
        let matched = tokio::task::spawn_blocking(move || check_hash(&checked, &password))
            .await
            .unwrap_or(false);
        if !(matched && known) {
            return Err(Reason::Invalid);
        }
        self.verified
            .insert(key, stored.name.clone(), Instant::now());
        Ok(stored.name.clone())
    }

    /// Hash checks run so far (the rest were answered from memory).
    #[cfg(test)]
    pub(crate) fn hash_checks(&self) -> u64 {
        self.hash_checks.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {b64}").into_bytes()
    }

    fn users() -> BasicUsers {
        let mut map = BTreeMap::new();
        map.insert("alice".to_string(), bcrypt::hash("wonderland", 4).unwrap());
        BasicUsers::new(&BasicConfig {
            realm: "r".into(),
            users: map,
            forward_as: None,
            strip: true,
        })
    }

    #[tokio::test]
    async fn a_verified_credential_is_not_hashed_again() {
        let u = users();
        let good = header("alice", "wonderland");
        assert_eq!(&*u.verify(Some(&good)).await.unwrap(), "alice");
        assert_eq!(&*u.verify(Some(&good)).await.unwrap(), "alice");
        assert_eq!(u.hash_checks(), 1);
        let wrong = header("alice", "looking-glass");
        assert_eq!(u.verify(Some(&wrong)).await, Err(Reason::Invalid));
        assert_eq!(u.verify(Some(&wrong)).await, Err(Reason::Invalid));
        // Failures are never remembered.
        assert_eq!(u.hash_checks(), 3);
        assert_eq!(
            u.verify(Some(&header("bob", "wonderland"))).await,
            Err(Reason::Invalid)
        );
        assert_eq!(u.verify(Some(b"Bearer abc")).await, Err(Reason::Invalid));
        assert_eq!(u.verify(None).await, Err(Reason::Missing));
    }

    #[test]
    fn argon2_hashes_verify() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"fixed-test-salt").unwrap();
        let params = argon2::Params::new(8, 1, 1, None).unwrap();
        let hasher =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let hash = hasher.hash_password(b"pw", &salt).unwrap().to_string();
        let stored = Stored {
            name: Arc::from("a"),
            kind: password_hash_kind(&hash).unwrap(),
            hash,
        };
        assert!(check_hash(&stored, "pw"));
        assert!(!check_hash(&stored, "pw2"));
    }
}
