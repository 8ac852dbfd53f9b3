//! Header set/add/remove rules, compiled once per config into typed names
//! and values so the request path does no parsing.

use crate::config::HeaderRulesConfig;
use http::{HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use std::str::FromStr;

/// Compiled header edits.
#[derive(Debug, Clone, Default)]
pub struct HeaderRules {
    set: Vec<(HeaderName, HeaderValue)>,
    add: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
}

/// Something whose headers can be edited (Pingora request or response).
pub trait HeaderTarget {
    /// Replaces any values of `name`.
    fn set(&mut self, name: HeaderName, value: HeaderValue);
    /// Appends a value of `name`.
    fn add(&mut self, name: HeaderName, value: HeaderValue);
    /// Removes all values of `name`.
    fn remove(&mut self, name: &HeaderName);
}

macro_rules! impl_header_target {
    ($ty:ty) => {
        impl HeaderTarget for $ty {
            fn set(&mut self, name: HeaderName, value: HeaderValue) {
                // Inserting a valid name and value cannot fail.
                let _ = self.insert_header(name, value);
            }
            fn add(&mut self, name: HeaderName, value: HeaderValue) {
                let _ = self.append_header(name, value);
            }
            fn remove(&mut self, name: &HeaderName) {
                self.remove_header(name);
            }
        }
    };
}
impl_header_target!(RequestHeader);
impl_header_target!(ResponseHeader);

impl HeaderRules {
    /// Compiles rules already checked by config validation; entries that do
    /// not parse are skipped.
    pub fn new(cfg: &HeaderRulesConfig) -> Self {
        let pairs = |map: &std::collections::BTreeMap<String, String>| {
            map.iter()
                .filter_map(|(k, v)| {
                    Some((
                        HeaderName::from_str(k).ok()?,
                        HeaderValue::from_str(v).ok()?,
                    ))
                })
                .collect()
        };
        HeaderRules {
            set: pairs(&cfg.set),
            add: pairs(&cfg.add),
            remove: cfg
                .remove
                .iter()
                .filter_map(|n| HeaderName::from_str(n).ok())
                .collect(),
        }
    }

    /// Whether the rules change nothing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }

    /// Applies removals, then sets, then additions.
    pub fn apply(&self, target: &mut impl HeaderTarget) {
        for name in &self.remove {
            target.remove(name);
        }
        for (name, value) in &self.set {
            target.set(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            target.add(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_sets_and_adds() {
        let mut cfg = HeaderRulesConfig::default();
        cfg.set.insert(
            "Strict-Transport-Security".into(),
            "max-age=63072000".into(),
        );
        cfg.add.insert("Via".into(), "gateway".into());
        cfg.remove.push("X-Powered-By".into());
        let rules = HeaderRules::new(&cfg);
        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.insert_header("X-Powered-By", "php").unwrap();
        resp.insert_header("Via", "upstream").unwrap();
        rules.apply(&mut resp);
        assert!(resp.headers.get("x-powered-by").is_none());
        assert_eq!(
            resp.headers.get("strict-transport-security").unwrap(),
            "max-age=63072000"
        );
        assert_eq!(resp.headers.get_all("via").iter().count(), 2);
    }
}
