//! A bounded, expiring memory of credentials that already passed a
//! password-hash check, so a client sending the same `Authorization`
//! value again is not charged an argon2/bcrypt verification per request.
//!
//! Entries are keyed by the SHA-256 of the whole header value (the
//! password itself is never kept), hold the user name, and expire after
//! [`VERIFIED_TTL`]. At most [`MAX_VERIFIED`] entries are kept: a full
//! memory first drops expired entries, then an arbitrary one. Only
//! successes are remembered, so failed guesses cannot fill it. The memory
//! belongs to the compiled route: a reload (changed users or hashes)
//! starts empty.

use ring::digest::{digest, SHA256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Verified credentials remembered per route.
pub(crate) const MAX_VERIFIED: usize = 4096;
/// How long a verified credential is remembered.
pub(crate) const VERIFIED_TTL: Duration = Duration::from_secs(60);

/// The SHA-256 of a credential, the memory's key.
pub(crate) type CredentialDigest = [u8; 32];

/// The digest of a header value.
pub(crate) fn credential_digest(value: &[u8]) -> CredentialDigest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, value).as_ref());
    out
}

/// Bounded map from credential digest to (user, expiry).
pub(crate) struct VerifiedCredentials {
    entries: Mutex<HashMap<CredentialDigest, (Arc<str>, Instant)>>,
    capacity: usize,
    ttl: Duration,
}

impl VerifiedCredentials {
    /// An empty memory of at most `capacity` entries living `ttl` each.
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        VerifiedCredentials {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// The user a still-valid entry names.
    pub(crate) fn get(&self, key: &CredentialDigest, now: Instant) -> Option<Arc<str>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(user, _)| user.clone())
    }

    /// Remembers a verified credential.
    pub(crate) fn insert(&self, key: CredentialDigest, user: Arc<str>, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= self.capacity {
                if let Some(victim) = entries.keys().next().copied() {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(key, (user, now + self.ttl));
    }

    /// Entries held now (expired ones included until pruned).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_count_stays_bounded() {
        let mem = VerifiedCredentials::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        let alice: Arc<str> = Arc::from("alice");
        mem.insert(credential_digest(b"a"), alice.clone(), t0);
        assert_eq!(
            mem.get(&credential_digest(b"a"), t0).as_deref(),
            Some("alice")
        );
        assert_eq!(mem.get(&credential_digest(b"b"), t0), None);
        assert_eq!(
            mem.get(&credential_digest(b"a"), t0 + Duration::from_secs(10)),
            None
        );
        for i in 0..100u32 {
            mem.insert(credential_digest(&i.to_be_bytes()), alice.clone(), t0);
            assert!(mem.len() <= 3);
        }
        // Expired entries make room before live ones are dropped.
        let later = t0 + Duration::from_secs(11);
        mem.insert(credential_digest(b"x"), alice.clone(), later);
        mem.insert(credential_digest(b"y"), alice, later);
        assert_eq!(mem.len(), 2);
    }
}
