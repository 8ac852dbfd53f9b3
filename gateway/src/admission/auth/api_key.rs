//! `kind: api_key`: a static key in a header or a query parameter.
//!
//! Keys are kept only as SHA-256 digests. A presented key is hashed and
//! compared with every stored digest in constant time (`subtle`), so
//! neither the position of the first differing byte nor the key's length
//! shows in the timing, and the loop never stops early.

use super::metrics::Reason;
use crate::config::auth::ApiKeyConfig;
use http::HeaderName;
use pingora::http::RequestHeader;
use ring::digest::{digest, SHA256};
use std::sync::Arc;
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// Header used when the config names neither `header` nor `query`.
pub(crate) const DEFAULT_HEADER: &str = "x-api-key";

/// Where the key is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// A request header.
    Header(HeaderName),
    /// A query parameter (its raw, still percent-encoded value).
    Query(String),
}

/// A route's accepted keys.
pub(crate) struct ApiKeys {
    /// Where clients send the key.
    pub source: KeySource,
    digests: Vec<[u8; 32]>,
    names: Vec<Arc<str>>,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

impl ApiKeys {
    /// Compiles a validated `api_key` section.
    pub(crate) fn new(cfg: &ApiKeyConfig) -> Self {
        let source = match (&cfg.header, &cfg.query) {
            (_, Some(q)) => KeySource::Query(q.clone()),
            (Some(h), None) => KeySource::Header(
                HeaderName::from_bytes(h.as_bytes())
                    .unwrap_or(HeaderName::from_static(DEFAULT_HEADER)),
            ),
            (None, None) => KeySource::Header(HeaderName::from_static(DEFAULT_HEADER)),
        };
        ApiKeys {
            source,
            digests: cfg
                .keys
                .iter()
                .map(|k| sha256(k.key().as_bytes()))
                .collect(),
            names: cfg
                .keys
                .iter()
                .enumerate()
                .map(|(i, k)| Arc::from(k.identity(i)))
                .collect(),
        }
    }

    /// The key the request presents, if any.
    fn presented<'a>(&self, req: &'a RequestHeader) -> Option<&'a [u8]> {
        match &self.source {
            KeySource::Header(name) => req.headers.get(name).map(|v| v.as_bytes()),
            KeySource::Query(param) => query_value(req.uri.query()?, param).map(str::as_bytes),
        }
    }

    /// The identity of the key the request presents.
    pub(crate) fn verify(&self, req: &RequestHeader) -> Result<Arc<str>, Reason> {
        let presented = self.presented(req).ok_or(Reason::Missing)?;
        if presented.is_empty() {
            return Err(Reason::Missing);
        }
        let wanted = sha256(presented);
        let mut found = u32::MAX;
        for (i, stored) in self.digests.iter().enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            found.conditional_assign(&index, stored.ct_eq(&wanted));
        }
        self.names
            .get(found as usize)
            .cloned()
            .ok_or(Reason::Invalid)
    }
}

/// The raw value of the first `name=` parameter of `query`.
pub(crate) fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|part| match part.split_once('=') {
            Some((k, v)) if k == name => Some(v),
            None if part == name => Some(""),
            _ => None,
        })
}

/// `query` without any `name` parameter (`None` when nothing is left).
pub(crate) fn query_without(query: &str, name: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|part| !part.is_empty() && part.split_once('=').map_or(*part, |(k, _)| k) != name)
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::auth::ApiKeyEntry;

    fn keys(header: Option<&str>, query: Option<&str>) -> ApiKeys {
        ApiKeys::new(&ApiKeyConfig {
            header: header.map(String::from),
            query: query.map(String::from),
            keys: vec![
                ApiKeyEntry::Plain("first-key".into()),
                ApiKeyEntry::Named {
                    name: "billing".into(),
                    key: "second-key".into(),
                },
            ],
            forward_as: None,
            strip: true,
        })
    }

    fn req(uri: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", uri.as_bytes(), None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn keys_map_to_their_identities() {
        let k = keys(None, None);
        assert_eq!(
            &*k.verify(&req("/", &[("x-api-key", "first-key")])).unwrap(),
            "key0"
        );
        assert_eq!(
            &*k.verify(&req("/", &[("X-Api-Key", "second-key")])).unwrap(),
            "billing"
        );
        assert_eq!(k.verify(&req("/", &[])), Err(Reason::Missing));
        assert_eq!(
            k.verify(&req("/", &[("x-api-key", "")])),
            Err(Reason::Missing)
        );
        assert_eq!(
            k.verify(&req("/", &[("x-api-key", "first-ke")])),
            Err(Reason::Invalid)
        );
        assert_eq!(
            k.verify(&req("/", &[("x-api-key", "first-key2")])),
            Err(Reason::Invalid)
        );
    }

    #[test]
    fn query_keys_are_read_and_removed() {
        let k = keys(None, Some("api_key"));
        assert_eq!(
            &*k.verify(&req("/x?a=1&api_key=second-key", &[])).unwrap(),
            "billing"
        );
        assert_eq!(k.verify(&req("/x?a=1", &[])), Err(Reason::Missing));
        assert_eq!(
            query_without("a=1&api_key=k&b=2", "api_key").as_deref(),
            Some("a=1&b=2")
        );
        assert_eq!(query_without("api_key=k", "api_key"), None);
        assert_eq!(
            query_without("api_keyx=k", "api_key").as_deref(),
            Some("api_keyx=k")
        );
    }
}
