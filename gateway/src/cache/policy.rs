//! RFC 9111 storage and freshness decisions for one route.

use http::header::{AUTHORIZATION, CACHE_CONTROL, SET_COOKIE, VARY};
use http::StatusCode;
use pingora::cache::cache_control::{
    CacheControl, Cacheable as CcCacheable, InterpretCacheControl,
};
use pingora::cache::filters::{calculate_fresh_until, calculate_serve_stale_durations};
use pingora::cache::{CacheMeta, CacheMetaDefaults, NoCacheReason, RespCacheable};
use pingora::http::{RequestHeader, ResponseHeader};
use std::time::{Duration, SystemTime};

/// Headers never stored: per-connection fields and the origin's request id
/// (each response gets the id of its own request).
const NOT_STORED: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    "x-request-id",
];

/// A route's storage policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Freshness when the origin gives none.
    pub ttl: Option<Duration>,
    /// Default stale-while-revalidate window (seconds).
    pub stale_while_revalidate: u32,
    /// Default stale-if-error window (seconds).
    pub stale_if_error: u32,
    /// Store responses with `Set-Cookie`.
    pub allow_set_cookie: bool,
}

/// Statuses a cache may store without explicit freshness (RFC 9110 15.1).
fn heuristically_cacheable(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// No heuristic freshness from Pingora: the route's `ttl` is applied here.
fn no_heuristic(_: StatusCode) -> Option<Duration> {
    None
}

fn uncacheable(reason: &'static str) -> RespCacheable {
    RespCacheable::Uncacheable(NoCacheReason::Custom(reason))
}

/// Whether a request directive forbids storing the response
/// (`Cache-Control: no-store`).
pub(crate) fn request_forbids_storing(req: &RequestHeader) -> bool {
    CacheControl::from_req_headers(req).is_some_and(|cc| cc.no_store())
}

impl Policy {
    /// Decides whether `resp` (to `req`) may be stored, and for how long.
    /// Malformed `Cache-Control` makes a response uncacheable.
    pub fn decide(&self, req: &RequestHeader, resp: &ResponseHeader) -> RespCacheable {
        let status = resp.status;
        if status.is_informational() || status == StatusCode::PARTIAL_CONTENT {
            return uncacheable("status");
        }
        if request_forbids_storing(req) {
            return uncacheable("request no-store");
        }
        let vary_all = resp.headers.get_all(VARY).iter().any(|v| {
            v.to_str()
                .map_or(true, |s| s.split(',').any(|t| t.trim() == "*"))
        });
        if vary_all {
            return uncacheable("vary *");
        }
        if !self.allow_set_cookie && resp.headers.contains_key(SET_COOKIE) {
            return uncacheable("set-cookie");
        }
        let cc = CacheControl::from_resp_headers(resp);
        let malformed_cc = resp.headers.contains_key(CACHE_CONTROL)
            && cc.as_ref().is_none_or(|cc| {
                cc.max_age().is_err()
                    || cc.s_maxage().is_err()
                    || cc.stale_while_revalidate().is_err()
                    || cc.stale_if_error().is_err()
            });
        if malformed_cc {
            return uncacheable("malformed cache-control");
        }
        let cc = cc.as_ref();
        if cc.is_some_and(|cc| cc.is_cacheable() == CcCacheable::No) {
            return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache);
        }
        let authorized = req.headers.contains_key(AUTHORIZATION);
        if authorized && !cc.is_some_and(|cc| cc.allow_caching_authorized_req()) {
            return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache);
        }
        let defaults = CacheMetaDefaults::new(
            no_heuristic,
            self.stale_while_revalidate,
            self.stale_if_error,
        );
        let now = SystemTime::now();
        let explicit = calculate_fresh_until(now, cc, resp, authorized, &defaults);
        let fresh_until = match explicit {
            Some(t) => t,
            None => match self.ttl {
                Some(ttl)
                    if heuristically_cacheable(status) || cc.is_some_and(|cc| cc.public()) =>
                {
                    now + ttl
                }
                _ => return uncacheable("no freshness"),
            },
        };
        let (swr, sie) = if cc.is_some_and(|cc| cc.no_cache()) {
            // Must be validated before every use: never served stale.
            (0, 0)
        } else {
            calculate_serve_stale_durations(cc, &defaults)
        };
        let mut stored = resp.clone();
        if let Some(cc) = cc {
            cc.strip_private_headers(&mut stored);
        }
        for name in NOT_STORED {
            stored.remove_header(name);
        }
        RespCacheable::Cacheable(CacheMeta::new(fresh_until, now, swr, sie, stored))
    }
}

/// Whether the client asks for validation before a stored response is
/// used (`no-cache`, `Pragma: no-cache` without `Cache-Control`, or a
/// `max-age` the entry's age exceeds).
pub(crate) fn request_requires_validation(req: &RequestHeader, meta: &CacheMeta) -> bool {
    match CacheControl::from_req_headers(req) {
        Some(cc) => {
            cc.no_cache()
                || cc
                    .max_age()
                    .ok()
                    .flatten()
                    .is_some_and(|max| meta.age() > Duration::from_secs(u64::from(max)))
        }
        None => req
            .headers
            .get("pragma")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("no-cache")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(ttl: Option<u64>) -> Policy {
        Policy {
            ttl: ttl.map(Duration::from_secs),
            stale_while_revalidate: 0,
            stale_if_error: 0,
            allow_set_cookie: false,
        }
    }

    fn get(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    fn resp(status: u16, headers: &[(&str, &str)]) -> ResponseHeader {
        let mut r = ResponseHeader::build(status, None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    fn fresh_secs(c: RespCacheable) -> Option<u64> {
        match c {
            RespCacheable::Cacheable(m) => Some(m.fresh_sec()),
            RespCacheable::Uncacheable(_) => None,
        }
    }

    #[test]
    fn directives_decide_storage_and_freshness() {
        let p = policy(None);
        let r = get(&[]);
        assert_eq!(
            fresh_secs(p.decide(&r, &resp(200, &[("cache-control", "max-age=60")]))),
            Some(60)
        );
        assert_eq!(
            fresh_secs(p.decide(
                &r,
                &resp(200, &[("cache-control", "max-age=60, s-maxage=5")])
            )),
            Some(5)
        );
        assert_eq!(
            fresh_secs(p.decide(&r, &resp(200, &[("cache-control", "no-store, max-age=60")]))),
            None
        );
        assert_eq!(
            fresh_secs(p.decide(&r, &resp(200, &[("cache-control", "private, max-age=60")]))),
            None
        );
        // no-cache: stored, always stale (revalidated before use).
        assert_eq!(
            fresh_secs(p.decide(&r, &resp(200, &[("cache-control", "no-cache")]))),
            Some(0)
        );
        // Nothing said and no route ttl: not stored.
        assert_eq!(fresh_secs(p.decide(&r, &resp(200, &[]))), None);
    }

    #[test]
    fn the_route_ttl_applies_only_without_origin_freshness() {
        let p = policy(Some(30));
        let r = get(&[]);
        assert_eq!(fresh_secs(p.decide(&r, &resp(200, &[]))), Some(30));
        assert_eq!(
            fresh_secs(p.decide(&r, &resp(200, &[("cache-control", "max-age=5")]))),
            Some(5)
        );
        // 500 is not heuristically cacheable.
        assert_eq!(fresh_secs(p.decide(&r, &resp(500, &[]))), None);
        // ... but may be stored with explicit freshness.
        assert_eq!(
            fresh_secs(p.decide(&r, &resp(500, &[("cache-control", "max-age=5")]))),
            Some(5)
        );
    }

    #[test]
    fn expires_gives_freshness_and_a_bad_one_means_stale() {
        let p = policy(Some(30));
        let r = get(&[]);
        let later = httpdate_in(120);
        let secs = fresh_secs(p.decide(&r, &resp(200, &[("expires", later.as_str())]))).unwrap();
        assert!((115..=121).contains(&secs), "{secs}");
        assert_eq!(
            fresh_secs(p.decide(&r, &resp(200, &[("expires", "0")]))),
            Some(0)
        );
    }

    fn httpdate_in(secs: u64) -> String {
        let t = SystemTime::now() + Duration::from_secs(secs);
        httpdate::fmt_http_date(t)
    }

    #[test]
    fn authorization_needs_public_s_maxage_or_must_revalidate() {
        let p = policy(Some(30));
        let r = get(&[("authorization", "Bearer x")]);
        assert_eq!(
            fresh_secs(p.decide(&r, &resp(200, &[("cache-control", "max-age=60")]))),
            None
        );
        assert_eq!(fresh_secs(p.decide(&r, &resp(200, &[]))), None);
        assert_eq!(
            fresh_secs(p.decide(&r, &resp(200, &[("cache-control", "public, max-age=60")]))),
            Some(60)
        );
        assert_eq!(
            fresh_secs(p.decide(&r, &resp(200, &[("cache-control", "s-maxage=7")]))),
            Some(7)
        );
    }

    #[test]
    fn cookies_vary_star_and_malformed_directives_are_not_stored() {
        let p = policy(Some(30));
        let r = get(&[]);
        assert_eq!(
            fresh_secs(p.decide(&r, &resp(200, &[("set-cookie", "a=b")]))),
            None
        );
        let allowing = Policy {
            allow_set_cookie: true,
            ..policy(Some(30))
        };
        assert_eq!(
            fresh_secs(allowing.decide(&r, &resp(200, &[("set-cookie", "a=b")]))),
            Some(30)
        );
        assert_eq!(fresh_secs(p.decide(&r, &resp(200, &[("vary", "*")]))), None);
        assert_eq!(
            fresh_secs(p.decide(&r, &resp(200, &[("vary", "accept, *")]))),
            None
        );
        assert_eq!(
            fresh_secs(p.decide(&r, &resp(200, &[("cache-control", "max-age=abc")]))),
            None
        );
        assert_eq!(
            fresh_secs(p.decide(&r, &resp(200, &[("cache-control", "max-age=-1")]))),
            None
        );
    }

    #[test]
    fn the_origin_request_id_and_hop_by_hop_fields_are_not_stored() {
        let p = policy(Some(30));
        let r = get(&[]);
        let RespCacheable::Cacheable(meta) = p.decide(
            &r,
            &resp(
                200,
                &[
                    ("x-request-id", "origin-1"),
                    ("connection", "close"),
                    ("etag", "\"a\""),
                ],
            ),
        ) else {
            panic!("expected cacheable");
        };
        assert!(meta.headers().get("x-request-id").is_none());
        assert!(meta.headers().get("connection").is_none());
        assert!(meta.headers().get("etag").is_some());
    }

    #[test]
    fn no_cache_responses_are_never_served_stale() {
        let p = Policy {
            stale_while_revalidate: 10,
            stale_if_error: 10,
            ..policy(None)
        };
        let r = get(&[]);
        let RespCacheable::Cacheable(meta) = p.decide(
            &r,
            &resp(200, &[("cache-control", "no-cache, stale-if-error=60")]),
        ) else {
            panic!("expected cacheable");
        };
        assert_eq!(meta.stale_if_error_sec(), 0);
        assert_eq!(meta.stale_while_revalidate_sec(), 0);
        let RespCacheable::Cacheable(meta) =
            p.decide(&r, &resp(200, &[("cache-control", "max-age=1")]))
        else {
            panic!("expected cacheable");
        };
        assert_eq!(meta.stale_while_revalidate_sec(), 10);
    }

    #[test]
    fn request_no_store_prevents_storing() {
        let p = policy(Some(30));
        let r = get(&[("cache-control", "no-store")]);
        assert_eq!(
            fresh_secs(p.decide(&r, &resp(200, &[("cache-control", "max-age=60")]))),
            None
        );
    }
}
