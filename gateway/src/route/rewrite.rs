//! Path and query rewriting applied before a request goes upstream.

use crate::config::{QueryConfig, RewriteConfig};
use http::uri::{PathAndQuery, Uri};
use pingora::{Error, ErrorType, Result};

/// `uri` with a new path and query, keeping its scheme and authority (an
/// HTTP/2 request carries its host only there).
pub fn with_path_and_query(uri: &Uri, path: &str, query: Option<&str>) -> Result<Uri> {
    let invalid = |e: &dyn std::fmt::Display| {
        Error::explain(
            ErrorType::InvalidHTTPHeader,
            format!("rewritten URI is invalid: {e}"),
        )
    };
    let pq = match query {
        Some(q) => PathAndQuery::try_from(format!("{path}?{q}")),
        None => PathAndQuery::try_from(path),
    }
    .map_err(|e| invalid(&e))?;
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq);
    Uri::from_parts(parts).map_err(|e| invalid(&e))
}

/// How the matched path prefix is rewritten.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PathRewrite {
    /// Leave the path alone.
    #[default]
    None,
    /// Replace the matched prefix with this (empty: strip it).
    ReplacePrefix(String),
}

impl PathRewrite {
    /// Compiles the config form.
    pub fn new(cfg: Option<&RewriteConfig>) -> Self {
        match cfg {
            Some(RewriteConfig {
                replace_prefix: Some(p),
                ..
            }) => PathRewrite::ReplacePrefix(p.clone()),
            Some(RewriteConfig {
                strip_prefix: true, ..
            }) => PathRewrite::ReplacePrefix(String::new()),
            _ => PathRewrite::None,
        }
    }

    /// The rewritten path; `prefix` is the route's matched prefix.
    pub fn apply(&self, path: &str, prefix: &str) -> Option<String> {
        let PathRewrite::ReplacePrefix(with) = self else {
            return None;
        };
        let rest = path.strip_prefix(prefix)?;
        let mut out = String::with_capacity(with.len() + rest.len() + 1);
        out.push_str(with);
        if !rest.is_empty() && !out.ends_with('/') && !rest.starts_with('/') {
            out.push('/');
        }
        if out.ends_with('/') && rest.starts_with('/') {
            out.pop();
        }
        out.push_str(rest);
        if out.is_empty() {
            out.push('/');
        }
        Some(out)
    }
}

/// Query parameter edits.
#[derive(Debug, Clone, Default)]
pub struct QueryRewrite {
    remove: Vec<String>,
    set: Vec<(String, String)>,
}

impl QueryRewrite {
    /// Compiles the config form.
    pub fn new(cfg: Option<&QueryConfig>) -> Self {
        cfg.map(|c| QueryRewrite {
            remove: c.remove.clone(),
            set: c.set.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        })
        .unwrap_or_default()
    }

    /// Whether the edits change nothing.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty()
    }

    /// The edited query (`None`: no query at all). Parameters keep their
    /// order and encoding; set parameters replace existing ones in place or
    /// are appended.
    pub fn apply(&self, query: Option<&str>) -> Option<String> {
        let mut pairs: Vec<(String, Option<String>)> = Vec::new();
        for part in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = match part.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (part, None),
            };
            if self.remove.iter().any(|r| r == k) {
                continue;
            }
            pairs.push((k.to_string(), v));
        }
        for (k, v) in &self.set {
            match pairs.iter_mut().find(|(pk, _)| pk == k) {
                Some(pair) => pair.1 = Some(v.clone()),
                None => pairs.push((k.clone(), Some(v.clone()))),
            }
            pairs.retain({
                let mut seen = false;
                move |(pk, _)| {
                    if pk != k {
                        return true;
                    }
                    let keep = !seen;
                    seen = true;
                    keep
                }
            });
        }
        if pairs.is_empty() {
            return None;
        }
        let parts: Vec<String> = pairs
            .into_iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k,
            })
            .collect();
        Some(parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_and_replaces_prefixes() {
        let strip = PathRewrite::ReplacePrefix(String::new());
        assert_eq!(strip.apply("/v1/users", "/v1").as_deref(), Some("/users"));
        assert_eq!(strip.apply("/v1", "/v1").as_deref(), Some("/"));
        assert_eq!(strip.apply("/v1/", "/v1/").as_deref(), Some("/"));
        let replace = PathRewrite::ReplacePrefix("/internal/".into());
        assert_eq!(
            replace.apply("/v1/users", "/v1").as_deref(),
            Some("/internal/users")
        );
        assert_eq!(PathRewrite::None.apply("/v1/x", "/v1"), None);
    }

    #[test]
    fn new_path_keeps_scheme_and_authority() {
        let h2: Uri = "https://api.example.com/v1/x?a=1".parse().unwrap();
        let out = with_path_and_query(&h2, "/x", Some("a=1&b=2")).unwrap();
        assert_eq!(out.to_string(), "https://api.example.com/x?a=1&b=2");
        let origin_form: Uri = "/v1/x".parse().unwrap();
        let out = with_path_and_query(&origin_form, "/x", None).unwrap();
        assert_eq!(out.to_string(), "/x");
        assert!(with_path_and_query(&origin_form, "/a b", None).is_err());
    }

    #[test]
    fn edits_queries_in_place() {
        let q = QueryRewrite::new(Some(&QueryConfig {
            remove: vec!["utm_source".into(), "fbclid".into()],
            set: [("ref".to_string(), "gateway".to_string())].into(),
        }));
        assert_eq!(
            q.apply(Some("a=1&utm_source=x&fbclid=y&b")).as_deref(),
            Some("a=1&b&ref=gateway")
        );
        assert_eq!(
            q.apply(Some("ref=old&ref=older&c=3")).as_deref(),
            Some("ref=gateway&c=3")
        );
        assert_eq!(q.apply(None).as_deref(), Some("ref=gateway"));
        let only_remove = QueryRewrite::new(Some(&QueryConfig {
            remove: vec!["x".into()],
            set: Default::default(),
        }));
        assert_eq!(only_remove.apply(Some("x=1")), None);
    }
}
