//! Stage 5, HTTP caching (RFC 9111) for routes with a `cache` section
//! (`request_cache_filter`, `cache_key_callback`, `cache_miss`,
//! `cache_hit_filter`, `response_cache_filter`, `cache_vary_filter`,
//! `should_serve_stale`, then `response_filter` for `Cache-Status` and
//! `logging` for the lookup metrics). The proxy
//! calls one function here per Pingora cache hook; everything the cache
//! decides lives in this module:
//! `key` (cache keys), `policy` (storability and freshness), `storage`
//! (the bounded in-memory store), `lock` (one fill per key, counted
//! waiters), `status` (`Cache-Status`, lookup outcomes), `purge` (PURGE
//! and the admin purge), `metrics`.

pub(crate) mod key;
pub(crate) mod lock;
pub(crate) mod metrics;
pub(crate) mod policy;
pub(crate) mod purge;
pub(crate) mod status;
pub(crate) mod storage;

use crate::config::{CacheStorageConfig, Cidr, RouteCacheConfig};
use http::{HeaderName, HeaderValue, Method};
use lock::{CountingLock, WaitCounters};
use metrics::RouteCacheMetrics;
use pingora::cache::eviction::lru::Manager as LruManager;
use pingora::cache::key::HashBinary;
use pingora::cache::{
    CacheKey, CacheMeta, CacheOptionOverrides, CachePhase, ForcedFreshness, RespCacheable,
    VarianceBuilder,
};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use pingora::{Error, ErrorSource, Result};
use policy::Policy;
pub(crate) use status::CacheState;
use status::Lookup;
use std::sync::OnceLock;
use std::time::Duration;
use storage::MemoryStorage;

/// LRU shards of the eviction manager.
const LRU_SHARDS: usize = 16;
/// How long a fill may hold a key's lock before others may take over.
const LOCK_AGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Entries the LRU preallocates room for, per byte of `max_bytes`.
const EXPECTED_ENTRY_BYTES: usize = 16 * 1024;

/// The process-wide store, eviction manager and lock (`cache_storage`).
pub(crate) struct SharedCache {
    /// The store.
    pub storage: &'static MemoryStorage,
    /// LRU over the stored entries, bounded by `max_bytes`.
    pub eviction: &'static LruManager<LRU_SHARDS>,
    /// One fill per key.
    pub lock: &'static CountingLock,
    /// Largest stored body.
    pub max_object_bytes: usize,
}

static SHARED: OnceLock<SharedCache> = OnceLock::new();

fn build_shared(cfg: &CacheStorageConfig) -> SharedCache {
    let max_bytes = cfg.max_bytes.as_usize();
    let max_object_bytes = cfg.max_object_bytes.as_usize();
    let capacity = (max_bytes / EXPECTED_ENTRY_BYTES).clamp(64, 1 << 20);
    SharedCache {
        storage: Box::leak(Box::new(MemoryStorage::new(max_object_bytes))),
        eviction: Box::leak(Box::new(LruManager::with_capacity(max_bytes, capacity))),
        lock: Box::leak(Box::new(CountingLock::new(LOCK_AGE_TIMEOUT))),
        max_object_bytes,
    }
}

/// Creates the shared cache from the startup config (later calls and
/// reloads keep the first one: `cache_storage` changes need a restart).
pub(crate) fn init(cfg: &CacheStorageConfig) -> &'static SharedCache {
    SHARED.get_or_init(|| build_shared(cfg))
}

/// The shared cache (default sizes if [`init`] was never called).
pub(crate) fn shared() -> &'static SharedCache {
    SHARED.get_or_init(|| build_shared(&CacheStorageConfig::default()))
}

/// A route's compiled cache settings.
pub struct RouteCache {
    /// Storage and freshness policy.
    pub policy: Policy,
    /// Longest wait behind another request's fill.
    pub lock_timeout: Duration,
    /// Request headers in the key.
    pub key_headers: Vec<HeaderName>,
    /// Networks allowed to send `PURGE`.
    pub purge_allow: Vec<Cidr>,
    /// Entries are shared by every identity of an authenticated route
    /// (`shared: true`) instead of kept per identity.
    pub shared: bool,
    /// Metric handles.
    pub metrics: RouteCacheMetrics,
    wait_counters: WaitCounters,
}

impl RouteCache {
    /// Compiles a validated `cache` section of route `route`.
    pub fn new(route: &str, cfg: &RouteCacheConfig) -> Self {
        let secs = |d: Option<crate::config::HumanDuration>| {
            d.map_or(0, |d| u32::try_from(d.0.as_secs()).unwrap_or(u32::MAX))
        };
        let metrics = RouteCacheMetrics::new(route);
        let wait_counters = WaitCounters {
            waits: metrics.lock_waits.clone(),
            waiters: metrics.lock_waiters.clone(),
        };
        RouteCache {
            policy: Policy {
                ttl: cfg.ttl.map(|t| t.0),
                stale_while_revalidate: secs(cfg.stale_while_revalidate),
                stale_if_error: secs(cfg.stale_if_error),
                allow_set_cookie: cfg.allow_set_cookie,
            },
            lock_timeout: cfg.lock_timeout.0,
            // Validated names; an invalid one is skipped rather than panicking.
            key_headers: cfg
                .key_headers
                .iter()
                .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                .collect(),
            purge_allow: cfg
                .purge
                .allow
                .iter()
                .filter_map(|c| Cidr::parse(c).ok())
                .collect(),
            shared: cfg.shared,
            metrics,
            wait_counters,
        }
    }
}

/// Whether this session is a background revalidation Pingora started
/// (it runs every hook again with a fresh context).
pub(crate) fn is_background(session: &Session) -> bool {
    session.subrequest_ctx.is_some()
}

/// `request_cache_filter`: turns the cache on for GET and HEAD.
pub(crate) fn enable(session: &mut Session, route: &RouteCache, state: &mut CacheState) {
    let method = &session.req_header().method;
    if method != Method::GET && method != Method::HEAD {
        return;
    }
    let shared = shared();
    let mut overrides = CacheOptionOverrides::default();
    overrides.wait_timeout = Some(route.lock_timeout);
    session.cache.enable(
        shared.storage,
        Some(shared.eviction),
        None,
        Some(shared.lock),
        Some(overrides),
    );
    session
        .cache
        .set_max_file_size_bytes(shared.max_object_bytes);
    state.enabled = true;
}

/// `cache_key_callback`: scheme, host, normalised path and query, key
/// headers, and the authenticated identity on a route with `auth` unless
/// the route's cache is `shared`.
pub(crate) fn cache_key(
    session: &Session,
    route: &RouteCache,
    identity: Option<&str>,
) -> Result<CacheKey> {
    let req = session.req_header();
    let path_and_query = req.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut primary = key::primary(
        "http",
        crate::hygiene::request_target::host(req),
        path_and_query,
        req,
        &route.key_headers,
    );
    if let (Some(identity), false) = (identity, route.shared) {
        key::push_identity(&mut primary, identity);
    }
    let mut key = key::cache_key(primary);
    key.extensions.insert(route.wait_counters.clone());
    Ok(key)
}

/// `cache_miss`: remembers the lookup found nothing.
pub(crate) fn on_miss(session: &mut Session, state: &mut CacheState) {
    state.lookup = Lookup::Miss;
    session.cache.cache_miss();
}

/// `cache_hit_filter`: remembers what was found; a client asking for
/// validation (`no-cache`, `max-age`) makes a fresh entry expire for this
/// request.
pub(crate) fn on_hit(
    session: &Session,
    meta: &CacheMeta,
    is_fresh: bool,
    state: &mut CacheState,
) -> Option<ForcedFreshness> {
    state.lookup = if is_fresh {
        Lookup::Fresh
    } else {
        Lookup::Stale
    };
    if is_fresh && policy::request_requires_validation(session.req_header(), meta) {
        state.lookup = Lookup::Stale;
        return Some(ForcedFreshness::ForceExpired);
    }
    None
}

/// `response_cache_filter`.
pub(crate) fn cacheable(
    session: &Session,
    route: &RouteCache,
    resp: &ResponseHeader,
) -> RespCacheable {
    route.policy.decide(session.req_header(), resp)
}

/// `cache_vary_filter`: the values of the request headers the stored
/// response's `Vary` names.
pub(crate) fn variance(
    meta: &CacheMeta,
    req: &RequestHeader,
    state: &mut CacheState,
) -> Option<HashBinary> {
    let mut names: Vec<String> = meta
        .headers()
        .get_all(http::header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return None;
    }
    names.sort();
    names.dedup();
    let mut builder = VarianceBuilder::new();
    for name in names {
        let mut value = Vec::new();
        for (i, v) in req.headers.get_all(name.as_str()).iter().enumerate() {
            if i > 0 {
                value.extend_from_slice(b", ");
            }
            value.extend_from_slice(v.as_bytes());
        }
        builder.add_owned_name_value(name, value);
    }
    let variance = builder.finalize();
    // A stored entry's meta carries its variance: a different one means
    // this request wants another variant.
    if meta.variance().is_some() && meta.variance() != variance {
        state.vary_miss = true;
    }
    variance
}

/// `should_serve_stale`: during revalidation when the entry allows it, and
/// on any failure to get a response from the origin (5xx, connect failure,
/// timeout, no available endpoint), never for client-side errors.
pub(crate) fn serve_stale(error: Option<&Error>, state: &mut CacheState) -> bool {
    match error {
        None => true,
        Some(e) if *e.esource() == ErrorSource::Downstream => false,
        Some(_) => {
            state.served_stale_on_error = true;
            true
        }
    }
}

/// `response_filter`: `Cache-Status` on responses of caching routes.
pub(crate) fn response_headers(session: &Session, state: &CacheState, resp: &mut ResponseHeader) {
    let value = status::cache_status(session.cache.phase(), state, resp.status.as_u16());
    if let Ok(v) = HeaderValue::from_str(&value) {
        // Infallible for a valid value; an error would only lose the header.
        let _ = resp.insert_header("cache-status", v);
    }
}

/// `logging`: counts the lookup and any revalidation. Background
/// revalidations count only as revalidations.
pub(crate) fn record(session: &Session, route: &RouteCache, state: &CacheState, failed: bool) {
    let phase = session.cache.phase();
    if !is_background(session) {
        let status = status::lookup_status(phase, state);
        if let Some(i) = metrics::LOOKUP_STATUSES.iter().position(|s| *s == status) {
            route.metrics.lookups[i].inc();
        }
    }
    let revalidation = match phase {
        CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => Some(0),
        CachePhase::Expired if !failed => Some(1),
        _ if state.lookup == Lookup::Stale && (failed || state.served_stale_on_error) => Some(2),
        _ => None,
    };
    if let Some(i) = revalidation {
        route.metrics.revalidations[i].inc();
    }
}
