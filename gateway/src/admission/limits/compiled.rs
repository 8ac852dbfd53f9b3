//! Limits compiled per generation, and what a reload keeps.
//!
//! State lives with the compiled limiter and is carried into the next
//! generation by name when it still means the same thing:
//!
//! - a GCRA limiter (global, or a route's by route name) is kept when its
//!   `key`, `rate` and `burst` are unchanged, and starts empty otherwise
//!   (old TATs under a different policy would be meaningless);
//! - a window limiter is kept when its `key`, `max` and `per` are unchanged;
//! - in-flight counters (a route's by route name, a cluster's by cluster
//!   name) are always kept while the route or cluster has a limit, whatever
//!   the new limit: requests admitted before the reload still hold their
//!   slots and count against it.
//!
//! A route renamed, or a limit removed and added back, starts afresh.

use super::gcra::GcraPolicy;
use super::inflight::InflightCounter;
use super::key::CompiledKey;
use super::limiter::GcraLimiter;
use super::metrics::{track_keys, RouteLimitMetrics};
use super::window::WindowLimiter;
use crate::config::limits::{GcraConfig, WindowConfig};
use crate::config::{GatewayConfig, RouteConfig};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Keys one GCRA limiter holds at most (rounded up by the store: about
/// 1.8 million keys in at most 36 MiB; see docs/LIMITS.md).
pub(crate) const MAX_KEYS_PER_LIMITER: usize = 1_000_000;

/// A configured GCRA limit.
pub struct GcraLimit {
    config: GcraConfig,
    /// Name in `RateLimit` / `RateLimit-Policy`.
    pub name: String,
    /// What a budget belongs to.
    pub key: CompiledKey,
    /// Policy, clock and per-key state.
    pub limiter: Arc<GcraLimiter>,
}

impl GcraLimit {
    /// The limit for `config`, keeping `previous`'s state if it has the same
    /// key, rate and burst.
    fn build(
        config: &GcraConfig,
        name: &str,
        previous: Option<&Arc<GcraLimit>>,
    ) -> Option<Arc<Self>> {
        if let Some(p) = previous.filter(|p| p.config == *config) {
            return Some(p.clone());
        }
        // Validation already built this policy successfully.
        let policy = GcraPolicy::new(config.rate.count, config.rate.per, config.burst).ok()?;
        let limiter = Arc::new(GcraLimiter::in_process(policy, MAX_KEYS_PER_LIMITER));
        track_keys(&limiter);
        Some(Arc::new(GcraLimit {
            config: config.clone(),
            name: name.to_string(),
            key: CompiledKey::new(&config.key),
            limiter,
        }))
    }
}

/// A configured sliding-window limit.
pub struct WindowLimit {
    config: WindowConfig,
    /// Name in `RateLimit` / `RateLimit-Policy`.
    pub name: String,
    /// What a count belongs to.
    pub key: CompiledKey,
    /// The per-key counts.
    pub limiter: WindowLimiter,
}

impl WindowLimit {
    fn build(config: &WindowConfig, name: &str, previous: Option<&Arc<WindowLimit>>) -> Arc<Self> {
        if let Some(p) = previous.filter(|p| p.config == *config) {
            return p.clone();
        }
        Arc::new(WindowLimit {
            config: config.clone(),
            name: name.to_string(),
            key: CompiledKey::new(&config.key),
            limiter: WindowLimiter::new(config.max, config.per.0),
        })
    }
}

/// A concurrency limit and its (carried-over) counter.
#[derive(Clone)]
pub struct InflightLimit {
    /// Most requests at once.
    pub max: u32,
    /// The count.
    pub counter: Arc<InflightCounter>,
}

impl InflightLimit {
    fn build(max: Option<u32>, previous: Option<&InflightLimit>) -> Option<Self> {
        Some(InflightLimit {
            max: max?,
            counter: previous.map_or_else(Default::default, |p| p.counter.clone()),
        })
    }
}

/// Generation-wide limits: the global GCRA limit and cluster in-flight
/// limits (kept here so the next generation can carry them over).
#[derive(Default)]
pub struct GenerationLimits {
    global: Option<Arc<GcraLimit>>,
    clusters: BTreeMap<String, InflightLimit>,
}

impl GenerationLimits {
    /// Compiles `gateway.limits` and the clusters' limits of a validated
    /// config, carrying state over from `previous`.
    pub fn new(gw: &GatewayConfig, previous: Option<&GenerationLimits>) -> Self {
        let global =
            gw.limits.gcra.as_ref().and_then(|c| {
                GcraLimit::build(c, "global", previous.and_then(|p| p.global.as_ref()))
            });
        let clusters = gw
            .clusters
            .iter()
            .filter_map(|(name, c)| {
                let max = c.limits.as_ref().and_then(|l| l.in_flight);
                let prev = previous.and_then(|p| p.clusters.get(name));
                InflightLimit::build(max, prev).map(|l| (name.clone(), l))
            })
            .collect();
        GenerationLimits { global, clusters }
    }

    /// Compiles a route's limits; `previous` is the route of the same name
    /// in the previous generation.
    pub fn route(
        &self,
        name: &str,
        rc: &RouteConfig,
        previous: Option<&RouteLimits>,
    ) -> RouteLimits {
        let config = rc.limits.clone().unwrap_or_default();
        let gcra = config
            .gcra
            .as_ref()
            .and_then(|c| GcraLimit::build(c, name, previous.and_then(|p| p.gcra.as_ref())));
        let window = config.window.as_ref().map(|c| {
            WindowLimit::build(
                c,
                &format!("{name}/window"),
                previous.and_then(|p| p.window.as_ref()),
            )
        });
        let route_in_flight = InflightLimit::build(
            config.in_flight,
            previous.and_then(|p| p.route_in_flight.as_ref()),
        );
        let cluster_in_flight = self.clusters.get(&rc.cluster).cloned();
        let metrics = RouteLimitMetrics::new(
            name,
            self.global.is_some() || gcra.is_some(),
            window.is_some(),
            route_in_flight.is_some() || cluster_in_flight.is_some(),
        );
        RouteLimits {
            global: self.global.clone(),
            gcra,
            window,
            route_in_flight,
            cluster_in_flight,
            metrics,
        }
    }
}

/// Every limit a request of one route passes, in the order checked.
#[derive(Default)]
pub struct RouteLimits {
    /// `gateway.limits.gcra`.
    pub global: Option<Arc<GcraLimit>>,
    /// The route's `limits.gcra`.
    pub gcra: Option<Arc<GcraLimit>>,
    /// The route's `limits.window`.
    pub window: Option<Arc<WindowLimit>>,
    /// The route's `limits.in_flight`.
    pub route_in_flight: Option<InflightLimit>,
    /// The route's cluster's `limits.in_flight`.
    pub cluster_in_flight: Option<InflightLimit>,
    /// Metric handles.
    pub metrics: RouteLimitMetrics,
}

impl RouteLimits {
    /// Whether the route has no limit at all.
    pub fn is_empty(&self) -> bool {
        self.global.is_none()
            && self.gcra.is_none()
            && self.window.is_none()
            && self.route_in_flight.is_none()
            && self.cluster_in_flight.is_none()
    }
}
