//! Cookie-based session affinity: the cookie names the endpoint a client is
//! pinned to, by an opaque id.

use crate::config::StickyConfig;
use http::HeaderValue;

/// A cluster's sticky-session settings.
#[derive(Debug, Clone)]
pub struct Sticky {
    /// Cookie name.
    pub cookie: String,
    attributes: String,
}

impl Sticky {
    /// Compiles the config form.
    pub fn new(cfg: &StickyConfig) -> Self {
        let mut attributes = String::from("; Path=/; HttpOnly; SameSite=Lax");
        if let Some(max_age) = cfg.max_age {
            attributes.push_str(&format!("; Max-Age={}", max_age.0.as_secs()));
        }
        Sticky {
            cookie: cfg.cookie.clone(),
            attributes,
        }
    }

    /// The `Set-Cookie` value pinning a client to the endpoint with `id`.
    pub fn set_cookie(&self, id: &str) -> Option<HeaderValue> {
        HeaderValue::from_str(&format!("{}={id}{}", self.cookie, self.attributes)).ok()
    }
}

/// Finds cookie `name` in `Cookie` header values.
pub fn find_cookie<'a>(
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
        let s = Sticky::new(&StickyConfig {
            cookie: "gw".into(),
            max_age: Some(crate::config::HumanDuration(
                std::time::Duration::from_secs(60),
            )),
        });
        assert_eq!(
            s.set_cookie("ff").unwrap(),
            "gw=ff; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
    }
}
