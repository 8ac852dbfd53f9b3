//! Stage 6, upstream clusters: endpoint pools, selection (balancing, stickiness,
//! failover to the backup pool), health checks and the retry policy; and
//! one request's attempts over a cluster ([`Attempt`]: `upstream_peer`,
//! `connected_to_upstream`, `fail_to_connect`, `upstream_response_filter`,
//! `error_while_proxy`).

mod address;
mod attempt;
mod clock;
mod endpoint;
mod health;
mod health_http;
mod passive;
mod pool;
mod retry;
mod sticky;
pub(crate) mod tls;
mod tried;

pub(crate) use attempt::Attempt;
pub(crate) use endpoint::Endpoint;
pub(crate) use health::ActiveCheck;
pub(crate) use pool::Pool;
pub(crate) use retry::{Failure, RetryDecision, RetryInput, RetryPolicy};
pub(crate) use sticky::{find_cookie, Sticky};
pub(crate) use tls::load_files as load_tls_files;
pub use tried::Tried;

use crate::config::{Balance, ClusterConfig, HashKey};
use crate::observe::metrics::METRICS;
use clock::now_ms;
use prometheus::IntCounter;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Which endpoint of a cluster an attempt went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointRef {
    /// From the backup pool.
    pub backup: bool,
    /// Index in its pool.
    pub index: usize,
}

/// A named upstream cluster, compiled from config.
pub struct Cluster {
    /// Name from config.
    pub name: String,
    /// The config it was built from (reloads reuse clusters whose config is
    /// unchanged, keeping their health state).
    pub config: ClusterConfig,
    /// The primary pool.
    pub primary: Pool,
    /// The backup pool, used only while no primary endpoint is available.
    pub backup: Option<Pool>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Consistent-hash key, when the cluster hashes.
    pub hash_key: Option<HashKey>,
    /// Sticky sessions, when configured.
    pub sticky: Option<Sticky>,
    /// Passive ejection cooldown (`None`: until the next passing check).
    pub passive_cooldown: Option<Duration>,
    /// Connect failures that eject an endpoint (0: never).
    pub passive_threshold: u32,
    schedule: CheckSchedule,
    metrics: OnceLock<ClusterMetrics>,
}

/// Metric handles of one cluster.
pub struct ClusterMetrics {
    /// `gateway_retries_total{cluster}`.
    pub retries: IntCounter,
    /// `gateway_failover_total{cluster}`.
    pub failover: IntCounter,
    /// `gateway_upstream_connections_total{cluster,reused="false"}`.
    pub connections_new: IntCounter,
    /// `gateway_upstream_connections_total{cluster,reused="true"}`.
    pub connections_reused: IntCounter,
}

/// When the next active check of a cluster is due.
struct CheckSchedule {
    interval: Option<Duration>,
    next_due_ms: AtomicU64,
    running: AtomicBool,
}

impl Cluster {
    /// Builds a cluster from its config. Pure: no metric is registered or
    /// set until [`Cluster::activate`], so a rejected reload leaves no trace.
    pub fn new(name: &str, cfg: &ClusterConfig) -> Arc<Self> {
        let make_check = |eps| {
            cfg.health_check
                .as_ref()
                .map(|hc| ActiveCheck::new(name, hc, eps))
        };
        let sticky = cfg.sticky.as_ref().map(|s| Sticky::new(name, s));
        let primary = Pool::new(name, cfg, &cfg.endpoints, sticky.as_ref(), make_check);
        let backup = (!cfg.backup.is_empty())
            .then(|| Pool::new(name, cfg, &cfg.backup, sticky.as_ref(), make_check));
        let hash_key = match &cfg.balance {
            Balance::ConsistentHash { key } => Some(key.clone()),
            _ => None,
        };
        Arc::new(Cluster {
            name: name.to_string(),
            config: cfg.clone(),
            primary,
            backup,
            retry: RetryPolicy::new(&cfg.retries),
            hash_key,
            sticky,
            passive_cooldown: cfg
                .health_check
                .is_none()
                .then_some(cfg.passive_health.cooldown.0),
            passive_threshold: cfg.passive_health.consecutive_failures,
            schedule: CheckSchedule {
                interval: cfg.health_check.as_ref().map(|hc| hc.interval.0),
                next_due_ms: AtomicU64::new(0),
                running: AtomicBool::new(false),
            },
            metrics: OnceLock::new(),
        })
    }

    /// The cluster's metric handles (resolved on first use).
    pub fn metrics(&self) -> &ClusterMetrics {
        self.metrics.get_or_init(|| {
            let name = self.name.as_str();
            let connections = |reused: &str| {
                METRICS
                    .upstream_connections
                    .with_label_values(&[name, reused])
            };
            ClusterMetrics {
                retries: METRICS.retries.with_label_values(&[name]),
                failover: METRICS.failover.with_label_values(&[name]),
                connections_new: connections("false"),
                connections_reused: connections("true"),
            }
        })
    }

    /// Publishes the cluster's metrics and endpoint health gauges. Called
    /// once the whole generation is built and about to serve; harmless to
    /// repeat for a cluster carried over from the previous generation.
    pub fn activate(&self) {
        self.metrics();
        for (_, pool) in self.pools() {
            for ep in pool.endpoints.iter() {
                ep.activate();
            }
        }
    }

    /// Ends passive ejections whose cooldown has passed, so the health gauge
    /// follows even when no request or check touches the endpoint.
    pub fn end_expired_ejections(&self) {
        for (_, pool) in self.pools() {
            for ep in pool.endpoints.iter() {
                if ep.passive.take_expired() {
                    log::info!(
                        "cluster {} endpoint {}: passive ejection cooldown ended",
                        self.name,
                        ep.label
                    );
                    ep.refresh_gauge();
                }
            }
        }
    }

    /// The pool an [`EndpointRef`] points into.
    pub fn pool(&self, backup: bool) -> &Pool {
        match (&self.backup, backup) {
            (Some(pool), true) => pool,
            _ => &self.primary,
        }
    }

    /// The endpoint an [`EndpointRef`] points at.
    pub fn endpoint(&self, r: EndpointRef) -> &Endpoint {
        &self.pool(r.backup).endpoints[r.index]
    }

    fn pools(&self) -> impl Iterator<Item = (bool, &Pool)> {
        std::iter::once((false, &self.primary)).chain(self.backup.iter().map(|p| (true, p)))
    }

    /// Chooses an endpoint not in `tried`: the `pinned` sticky endpoint if it
    /// is available (a backup one only while no primary is), else by the
    /// balancer from the primary pool, else from the backup pool. A client
    /// pinned to a backup endpoint thus moves back, and is re-pinned, once a
    /// primary recovers.
    pub fn choose(&self, key: &[u8], pinned: Option<&str>, tried: &Tried) -> Option<EndpointRef> {
        if let Some(id) = pinned.filter(|_| self.sticky.is_some()) {
            for (backup, pool) in self.pools() {
                let Some(index) = pool.endpoints.iter().position(|e| e.sticky_id == id) else {
                    continue;
                };
                let usable = pool.is_available(index)
                    && !tried.contains(EndpointRef { backup, index })
                    && !(backup && pool_has_candidate(&self.primary, false, tried));
                if usable {
                    return Some(EndpointRef { backup, index });
                }
            }
        }
        self.pools().find_map(|(backup, pool)| {
            pool.select(key, |index| !tried.contains(EndpointRef { backup, index }))
                .map(|index| EndpointRef { backup, index })
        })
    }

    /// Whether an endpoint outside `tried` is available for a retry.
    pub fn has_candidate(&self, tried: &Tried) -> bool {
        self.pools()
            .any(|(backup, pool)| pool_has_candidate(pool, backup, tried))
    }

    /// Whether any endpoint, primary or backup, can take traffic.
    pub fn any_available(&self) -> bool {
        self.pools().any(|(_, pool)| pool.any_available())
    }

    /// Every endpoint label, for metric clean-up when the cluster goes away.
    pub fn endpoint_labels(&self) -> impl Iterator<Item = &str> {
        self.pools()
            .flat_map(|(_, pool)| pool.endpoints.iter().map(|e| e.label.as_str()))
    }

    /// Records a failed connect to `r`; ejects it after too many in a row.
    pub fn on_connect_failure(&self, r: EndpointRef) {
        let ep = self.endpoint(r);
        ep.attempts().connect_failure.inc();
        if ep
            .passive
            .on_connect_failure(self.passive_threshold, self.passive_cooldown)
        {
            log::warn!(
                "cluster {} endpoint {} ejected after {} consecutive connect failures",
                self.name,
                ep.label,
                self.passive_threshold
            );
            ep.refresh_gauge();
        }
    }

    /// Claims the next health-check pass if one is due; the caller then runs
    /// [`Cluster::run_health_check`].
    pub fn health_check_due(&self) -> bool {
        let s = &self.schedule;
        s.interval.is_some()
            && now_ms() >= s.next_due_ms.load(Relaxed)
            && s.running
                .compare_exchange(false, true, Relaxed, Relaxed)
                .is_ok()
    }

    /// Runs one health-check pass over both pools and schedules the next.
    pub async fn run_health_check(&self) {
        let backup = async {
            if let Some(pool) = &self.backup {
                pool.run_health_check().await
            }
        };
        tokio::join!(self.primary.run_health_check(), backup);
        let interval = self.schedule.interval.unwrap_or_default();
        self.schedule
            .next_due_ms
            .store(now_ms().saturating_add(millis(interval)), Relaxed);
        self.schedule.running.store(false, Relaxed);
    }
}

/// Whether `pool` (the backup pool when `backup`) has an available endpoint
/// outside `tried`.
fn pool_has_candidate(pool: &Pool, backup: bool, tried: &Tried) -> bool {
    (0..pool.endpoints.len())
        .any(|index| pool.is_available(index) && !tried.contains(EndpointRef { backup, index }))
}

/// A duration in whole milliseconds, saturating (config durations can be
/// larger than `u64` milliseconds).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
