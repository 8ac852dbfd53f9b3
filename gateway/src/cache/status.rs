//! The `Cache-Status` response header (RFC 9211) and the lookup outcome
//! counted in `gateway_cache_lookups_total`.

use pingora::cache::{CachePhase, NoCacheReason};

/// What the request saw when it looked in the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// No lookup (method not cacheable, or not a caching route).
    #[default]
    None,
    /// Nothing usable stored under the key.
    Miss,
    /// A fresh entry.
    Fresh,
    /// An expired entry.
    Stale,
}

/// Per-request cache facts the proxy keeps in its context.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CacheState {
    /// The route caches and the method could use the cache.
    pub enabled: bool,
    /// What the lookup found.
    pub lookup: Lookup,
    /// A stored response with a different `Vary` selection existed.
    pub vary_miss: bool,
    /// A stale entry was served because the origin failed.
    pub served_stale_on_error: bool,
}

/// `gateway_cache_lookups_total` status for the request, if it used a
/// caching route.
pub(crate) fn lookup_status(phase: CachePhase, state: &CacheState) -> &'static str {
    match phase {
        CachePhase::Hit => "hit",
        CachePhase::Stale | CachePhase::StaleUpdating => "stale",
        CachePhase::Expired | CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => {
            "expired"
        }
        CachePhase::Miss => "miss",
        _ => match state.lookup {
            Lookup::None => "bypass",
            Lookup::Miss | Lookup::Fresh => "miss",
            Lookup::Stale => "expired",
        },
    }
}

/// The `Cache-Status` value for a response with `status`.
pub(crate) fn cache_status(phase: CachePhase, state: &CacheState, status: u16) -> String {
    let miss = if state.vary_miss {
        "vary-miss"
    } else {
        "uri-miss"
    };
    match phase {
        CachePhase::Hit => "gateway; hit".into(),
        CachePhase::StaleUpdating => "gateway; hit; detail=stale-while-revalidate".into(),
        CachePhase::Stale if state.served_stale_on_error => {
            "gateway; fwd=stale; detail=stale-if-error".into()
        }
        CachePhase::Stale => "gateway; hit".into(),
        CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => {
            "gateway; fwd=stale; fwd-status=304".into()
        }
        CachePhase::Expired => format!("gateway; fwd=stale; fwd-status={status}; stored"),
        CachePhase::Miss => format!("gateway; fwd={miss}; fwd-status={status}; stored"),
        CachePhase::Disabled(NoCacheReason::CacheLockTimeout) => {
            format!("gateway; fwd={miss}; fwd-status={status}; detail=lock-timeout")
        }
        _ => match state.lookup {
            Lookup::None => "gateway; fwd=bypass".into(),
            Lookup::Miss | Lookup::Fresh => format!("gateway; fwd={miss}; fwd-status={status}"),
            Lookup::Stale => format!("gateway; fwd=stale; fwd-status={status}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_has_its_cache_status() {
        let s = CacheState::default();
        assert_eq!(cache_status(CachePhase::Hit, &s, 200), "gateway; hit");
        assert_eq!(
            cache_status(CachePhase::Miss, &s, 200),
            "gateway; fwd=uri-miss; fwd-status=200; stored"
        );
        let vary = CacheState {
            vary_miss: true,
            ..s
        };
        assert_eq!(
            cache_status(CachePhase::Miss, &vary, 200),
            "gateway; fwd=vary-miss; fwd-status=200; stored"
        );
        assert_eq!(
            cache_status(CachePhase::Revalidated, &s, 200),
            "gateway; fwd=stale; fwd-status=304"
        );
        assert_eq!(
            cache_status(CachePhase::Disabled(NoCacheReason::NeverEnabled), &s, 200),
            "gateway; fwd=bypass"
        );
        let missed = CacheState {
            lookup: Lookup::Miss,
            ..s
        };
        assert_eq!(
            cache_status(
                CachePhase::Disabled(NoCacheReason::OriginNotCache),
                &missed,
                200
            ),
            "gateway; fwd=uri-miss; fwd-status=200"
        );
        let on_error = CacheState {
            served_stale_on_error: true,
            ..s
        };
        assert_eq!(
            cache_status(CachePhase::Stale, &on_error, 200),
            "gateway; fwd=stale; detail=stale-if-error"
        );
    }

    #[test]
    fn lookups_are_classified() {
        let s = CacheState::default();
        assert_eq!(lookup_status(CachePhase::Hit, &s), "hit");
        assert_eq!(lookup_status(CachePhase::Miss, &s), "miss");
        assert_eq!(lookup_status(CachePhase::StaleUpdating, &s), "stale");
        assert_eq!(lookup_status(CachePhase::Revalidated, &s), "expired");
        assert_eq!(
            lookup_status(CachePhase::Disabled(NoCacheReason::NeverEnabled), &s),
            "bypass"
        );
    }
}
