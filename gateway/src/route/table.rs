//! Route matching: host (exact or `*.suffix`), longest path prefix and
//! method, compiled once per config. The table is generic over what a
//! match selects (the gateway stores its compiled [`Route`](super::Route)
//! policy there), so matching knows nothing of the later stages.
//!
//! Precedence: an exact host beats a wildcard host (longer suffix first),
//! which beats no host; then the longest `path_prefix`; then a route with a
//! method list beats one without; then config order. Prefixes match on plain
//! string prefixes, as in nginx and Envoy (`/v1` also matches `/v10`).

use crate::hygiene::request_target::strip_port;
use http::Method;

/// How a route matches the request host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// Any host.
    Any,
    /// This host exactly (lower case, no port).
    Exact(String),
    /// Any host ending in this suffix (stored with its leading dot).
    Suffix(String),
}

impl HostMatch {
    /// Compiles `api.example.com` / `*.example.com`.
    pub fn new(pattern: Option<&str>) -> Self {
        match pattern {
            None => HostMatch::Any,
            Some(p) => match p.strip_prefix('*') {
                Some(suffix) => HostMatch::Suffix(suffix.to_ascii_lowercase()),
                None => HostMatch::Exact(p.to_ascii_lowercase()),
            },
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            HostMatch::Any => true,
            HostMatch::Exact(h) => h.eq_ignore_ascii_case(host),
            HostMatch::Suffix(s) => {
                host.len() > s.len()
                    && host.is_char_boundary(host.len() - s.len())
                    && host[host.len() - s.len()..].eq_ignore_ascii_case(s)
            }
        }
    }

    /// Higher is more specific.
    fn rank(&self) -> (u8, usize) {
        match self {
            HostMatch::Exact(h) => (2, h.len()),
            HostMatch::Suffix(s) => (1, s.len()),
            HostMatch::Any => (0, 0),
        }
    }
}

/// What one route matches: everything route selection reads.
#[derive(Debug, Clone)]
pub struct RouteMatch {
    /// Host matcher.
    pub host: HostMatch,
    /// Path prefix (`/` when not configured).
    pub prefix: String,
    /// Allowed methods (all when `None`).
    pub methods: Option<Vec<Method>>,
    /// Position in the config file (the last tie-breaker).
    pub config_index: usize,
}

impl RouteMatch {
    fn matches(&self, host: &str, path: &str, method: &Method) -> bool {
        self.host.matches(host)
            && path.starts_with(self.prefix.as_str())
            && self.methods.as_ref().is_none_or(|m| m.contains(method))
    }

    /// Orders more specific matchers first (see the module docs).
    fn precedence(&self, other: &Self) -> std::cmp::Ordering {
        other
            .host
            .rank()
            .cmp(&self.host.rank())
            .then(other.prefix.len().cmp(&self.prefix.len()))
            .then(other.methods.is_some().cmp(&self.methods.is_some()))
            .then(self.config_index.cmp(&other.config_index))
    }
}

/// All routes, most specific first: each matcher with the payload `R` it
/// selects. Matchers are kept apart from the payloads, so a lookup scans
/// only the small matcher records.
pub struct RouteTable<R> {
    matchers: Vec<RouteMatch>,
    routes: Vec<R>,
}

impl<R> RouteTable<R> {
    /// Orders the routes by precedence.
    pub fn new(mut entries: Vec<(RouteMatch, R)>) -> Self {
        entries.sort_by(|(a, _), (b, _)| a.precedence(b));
        let (matchers, routes) = entries.into_iter().unzip();
        RouteTable { matchers, routes }
    }

    /// Index of the route for a request. `host` may carry a port.
    pub fn find(&self, host: &str, path: &str, method: &Method) -> Option<usize> {
        let host = strip_port(host);
        self.matchers
            .iter()
            .position(|m| m.matches(host, path, method))
    }

    /// The route at `index` (an index [`RouteTable::find`] returned).
    pub fn get(&self, index: usize) -> &R {
        &self.routes[index]
    }

    /// The matcher of the route at `index`.
    pub fn matcher(&self, index: usize) -> &RouteMatch {
        &self.matchers[index]
    }

    /// All routes in precedence order.
    pub fn iter(&self) -> impl Iterator<Item = &R> {
        self.routes.iter()
    }

    /// All routes in precedence order, each with its matcher.
    pub fn entries(&self) -> impl Iterator<Item = (&RouteMatch, &R)> {
        self.matchers.iter().zip(&self.routes)
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there is no route.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_match_as_documented() {
        let exact = HostMatch::new(Some("API.example.com"));
        assert!(exact.matches("api.example.com"));
        assert!(!exact.matches("x.api.example.com"));
        let wild = HostMatch::new(Some("*.example.com"));
        assert!(wild.matches("a.example.com"));
        assert!(wild.matches("a.b.EXAMPLE.com"));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("badexample.com"));
        assert!(HostMatch::Any.matches("anything"));
    }

    fn at(host: Option<&str>, prefix: &str, methods: Option<Vec<Method>>, i: usize) -> RouteMatch {
        RouteMatch {
            host: HostMatch::new(host),
            prefix: prefix.to_string(),
            methods,
            config_index: i,
        }
    }

    #[test]
    fn precedence_is_host_then_prefix_then_methods_then_config_order() {
        let table = RouteTable::new(vec![
            (at(None, "/", None, 0), "catch-all"),
            (at(None, "/api", None, 1), "api"),
            (at(None, "/api", Some(vec![Method::POST]), 2), "api-post"),
            (at(Some("*.example.com"), "/", None, 3), "wildcard"),
            (at(Some("a.example.com"), "/", None, 4), "exact"),
            (at(None, "/api", None, 5), "api-later"),
        ]);
        let name = |host, path, method| table.find(host, path, &method).map(|i| *table.get(i));
        assert_eq!(
            name("a.example.com:8080", "/api", Method::POST),
            Some("exact")
        );
        assert_eq!(
            name("b.example.com", "/api", Method::POST),
            Some("wildcard")
        );
        assert_eq!(name("other", "/api/x", Method::POST), Some("api-post"));
        assert_eq!(name("other", "/api/x", Method::GET), Some("api"));
        assert_eq!(name("other", "/x", Method::GET), Some("catch-all"));
        assert_eq!(table.len(), 6);
        let order: Vec<_> = table.iter().copied().collect();
        assert_eq!(
            order,
            [
                "exact",
                "wildcard",
                "api-post",
                "api",
                "api-later",
                "catch-all"
            ]
        );
        assert!(table.entries().all(|(m, _)| !m.prefix.is_empty()));
    }
}
