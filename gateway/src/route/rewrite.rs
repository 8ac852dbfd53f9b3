//! Path and query rewriting applied before a request goes upstream: a
//! route's [`RouteRewrite`] (the matched prefix with its [`PathRewrite`],
//! and a [`QueryRewrite`]) gives the upstream URI in one call.

use crate::config::{QueryConfig, RewriteConfig};
/// Re-exported from its home in `hygiene`, where path normalisation uses it.
use crate::hygiene::request_target::with_path_and_query;
use http::uri::Uri;
use pingora::Result;
use std::borrow::Cow;

/// A route's rewrites of the upstream request target.
#[derive(Debug, Clone, Default)]
pub struct RouteRewrite {
    /// The route's matched path prefix, which the path rewrite replaces.
    pub prefix: String,
    /// Path rewrite.
    pub path: PathRewrite,
    /// Query rewrite.
    pub query: QueryRewrite,
}

impl RouteRewrite {
    /// Compiles a route's `rewrite` and `query` for its `path_prefix`.
    pub fn new(prefix: &str, path: Option<&RewriteConfig>, query: Option<&QueryConfig>) -> Self {
        RouteRewrite {
            prefix: prefix.to_string(),
            path: PathRewrite::new(path),
            query: QueryRewrite::new(query),
        }
    }

    /// Whether the rewrites change nothing.
    pub fn is_empty(&self) -> bool {
        self.path == PathRewrite::None && self.query.is_empty()
    }

    /// The upstream URI for `uri`, keeping its scheme and authority; `None`
    /// when the route rewrites nothing. `Err` when the result is not a
    /// valid URI.
    pub fn apply(&self, uri: &Uri) -> Result<Option<Uri>> {
        if self.is_empty() {
            return Ok(None);
        }
        let path = self
            .path
            .apply(uri.path(), &self.prefix)
            .map_or(Cow::Borrowed(uri.path()), Cow::Owned);
        let query = if self.query.is_empty() {
            uri.query().map(Cow::Borrowed)
        } else {
            self.query.apply(uri.query()).map(Cow::Owned)
        };
        with_path_and_query(uri, &path, query.as_deref()).map(Some)
    }
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
    fn route_rewrite_edits_path_and_query_and_keeps_the_authority() {
        let rewrite = RouteRewrite::new(
            "/v1",
            Some(&RewriteConfig {
                strip_prefix: true,
                ..Default::default()
            }),
            Some(&QueryConfig {
                remove: vec!["x".into()],
                set: Default::default(),
            }),
        );
        let h2: Uri = "https://api.example.com/v1/users?x=1&y=2".parse().unwrap();
        let out = rewrite.apply(&h2).unwrap().unwrap();
        assert_eq!(out.to_string(), "https://api.example.com/users?y=2");
        let unmatched: Uri = "/other?x=1".parse().unwrap();
        let out = rewrite.apply(&unmatched).unwrap().unwrap();
        assert_eq!(out.to_string(), "/other");
        let none = RouteRewrite::new("/v1", None, None);
        assert!(none.is_empty());
        assert_eq!(none.apply(&h2).unwrap(), None);
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
