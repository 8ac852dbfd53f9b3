//! Cookie-based session affinity: the cookie names the endpoint a client is
//! pinned to, by an opaque id.
//!
//! Ids are HMAC-SHA256 of the cluster name and endpoint address, keyed with
//! `sticky.secret` (or a random per-process key) and truncated to 128 bits:
//! they neither reveal the address nor can be forged for another endpoint
//! without the key.

use crate::config::StickyConfig;
use http::HeaderValue;
use ring::hmac;
use std::sync::LazyLock;

/// Bytes of the HMAC kept in an id (hex-encoded in the cookie).
const ID_BYTES: usize = 16;

/// The key used when a cluster sets no `sticky.secret`.
static PROCESS_KEY: LazyLock<[u8; 32]> = LazyLock::new(|| {
    let mut key = [0u8; 32];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).is_err() {
        // No system randomness: ids stay unforgeable only as far as the
        // address is secret. Say so rather than fail to start.
        log::error!("no system randomness for the sticky-cookie key; using a fixed key");
    }
    key
});

/// A cluster's sticky-session settings.
#[derive(Debug, Clone)]
pub struct Sticky {
    /// Cookie name.
    pub cookie: String,
    attributes: String,
    key: hmac::Key,
}

impl Sticky {
    /// Compiles the config form of `cluster`'s settings.
    pub fn new(cluster: &str, cfg: &StickyConfig) -> Self {
        let mut attributes = String::from("; Path=/; HttpOnly; SameSite=Lax");
        if let Some(max_age) = cfg.max_age {
            attributes.push_str(&format!("; Max-Age={}", max_age.0.as_secs()));
        }
        let key = match &cfg.secret {
            Some(secret) => hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
            None => {
                log::warn!(
                    "cluster {cluster}: sticky.secret is not set; using a random key, so sticky \
                     pins end when the process restarts and differ between instances"
                );
                hmac::Key::new(hmac::HMAC_SHA256, PROCESS_KEY.as_slice())
            }
        };
        Sticky {
            cookie: cfg.cookie.clone(),
            attributes,
            key,
        }
    }

    /// The id that names the endpoint at `addr` of `cluster` in a cookie.
    pub fn endpoint_id(&self, cluster: &str, addr: &dyn std::fmt::Display) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(cluster.as_bytes());
        ctx.update(&[0]);
        ctx.update(addr.to_string().as_bytes());
        let tag = ctx.sign();
        tag.as_ref()[..ID_BYTES]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The `Set-Cookie` value pinning a client to the endpoint with `id`.
    pub fn set_cookie(&self, id: &str) -> Option<HeaderValue> {
        HeaderValue::from_str(&format!("{}={id}{}", self.cookie, self.attributes)).ok()
    }
}

/// Finds cookie `name` in `Cookie` header values.
pub(crate) fn find_cookie<'a>(
    headers: impl Iterator<Item = &'a HeaderValue>,
    name: &str,
) -> Option<&'a str> {
    headers
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn finds_cookies_across_headers() {
        let a = HeaderValue::from_static("a=1; gw=abc");
        let b = HeaderValue::from_static("c=\"3\"");
        assert_eq!(find_cookie([&a, &b].into_iter(), "gw"), Some("abc"));
        assert_eq!(find_cookie([&a, &b].into_iter(), "c"), Some("3"));
        assert_eq!(find_cookie([&a].into_iter(), "x"), None);
    }

    #[test]
    fn builds_set_cookie_with_attributes() {
        let s = Sticky::new(
            "api",
            &StickyConfig {
                cookie: "gw".into(),
                max_age: Some(crate::config::HumanDuration(
                    std::time::Duration::from_secs(60),
                )),
                secret: None,
            },
        );
        assert_eq!(
            s.set_cookie("ff").unwrap(),
            "gw=ff; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
    }

    fn sticky(secret: Option<&str>) -> Sticky {
        Sticky::new(
            "api",
            &StickyConfig {
                cookie: "gw".into(),
                max_age: None,
                secret: secret.map(str::to_string),
            },
        )
    }

    #[test]
    fn ids_depend_on_the_secret_and_are_stable_for_one_secret() {
        let addr: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let other: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let a = sticky(Some("one"));
        let id = a.endpoint_id("api", &addr);
        assert_eq!(id.len(), 2 * ID_BYTES);
        assert_eq!(id, sticky(Some("one")).endpoint_id("api", &addr));
        assert_ne!(id, sticky(Some("two")).endpoint_id("api", &addr));
        assert_ne!(id, a.endpoint_id("api", &other));
        assert_ne!(id, a.endpoint_id("web", &addr));
        // Without a secret, stable within the process, unlike any keyed id.
        assert_eq!(
            sticky(None).endpoint_id("api", &addr),
            sticky(None).endpoint_id("api", &addr)
        );
        assert_ne!(sticky(None).endpoint_id("api", &addr), id);
    }

    #[test]
    fn ids_are_not_the_unkeyed_hash_of_the_address() {
        // The former id: FNV-1a over "api\0" + address, computable by anyone.
        let addr: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in "api".bytes().chain([0]).chain(addr.to_string().bytes()) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        let id = sticky(Some("s")).endpoint_id("api", &addr);
        assert!(!id.contains(&format!("{hash:016x}")));
    }
}
