//! A pool of endpoints behind one Pingora load balancer (the primary pool
//! or the backup pool of a cluster).

use super::endpoint::Endpoint;
use super::health::ActiveCheck;
use super::sticky::Sticky;
use crate::config::{Balance, ClusterConfig, EndpointConfig};
use futures::FutureExt;
use pingora::lb::selection::{Consistent, Random, RoundRobin};
use pingora::lb::{discovery, Backend, Backends, LoadBalancer};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Bound on how many candidates one selection looks at.
const MAX_SELECT_ITERATIONS: usize = 256;

/// The Pingora balancer for the configured algorithm.
enum Selector {
    RoundRobin(LoadBalancer<RoundRobin>),
    Random(LoadBalancer<Random>),
    Consistent(LoadBalancer<Consistent>),
}

macro_rules! with_lb {
    ($sel:expr, $lb:ident => $body:expr) => {
        match $sel {
            Selector::RoundRobin($lb) => $body,
            Selector::Random($lb) => $body,
            Selector::Consistent($lb) => $body,
        }
    };
}

/// Endpoints plus the balancer that chooses among them.
pub struct Pool {
    selector: Selector,
    /// The endpoints, in config order.
    pub endpoints: Arc<Vec<Endpoint>>,
    backends: Vec<Backend>,
}

impl Pool {
    /// Builds a pool; `check` is the active health check, if configured.
    pub fn new(
        cluster_name: &str,
        cluster: &ClusterConfig,
        configs: &[EndpointConfig],
        sticky: Option<&Sticky>,
        make_check: impl FnOnce(Arc<Vec<Endpoint>>) -> Option<ActiveCheck>,
    ) -> Self {
        let endpoints: Arc<Vec<Endpoint>> = Arc::new(
            configs
                .iter()
                .map(|cfg| {
                    let id = sticky
                        .map(|s| s.endpoint_id(cluster_name, &cfg.address))
                        .unwrap_or_default();
                    Endpoint::new(cluster_name, cluster, cfg, id)
                })
                .collect(),
        );
        let backends: Vec<Backend> = configs
            .iter()
            .zip(endpoints.iter())
            .map(|(cfg, ep)| Backend {
                addr: pingora::protocols::l4::socket::SocketAddr::Inet(ep.balancer_key),
                weight: cfg.weight,
                ext: Default::default(),
            })
            .collect();
        let check = make_check(endpoints.clone());
        let set: BTreeSet<Backend> = backends.iter().cloned().collect();
        let selector = match &cluster.balance {
            Balance::RoundRobin | Balance::Weighted => Selector::RoundRobin(build_lb(set, check)),
            Balance::Random => Selector::Random(build_lb(set, check)),
            Balance::ConsistentHash { .. } => Selector::Consistent(build_lb(set, check)),
        };
        Pool {
            selector,
            endpoints,
            backends,
        }
    }

    /// Picks an endpoint index: healthy, not passively ejected, and accepted
    /// by `accept`. `key` feeds consistent hashing and is ignored otherwise.
    pub fn select(&self, key: &[u8], accept: impl Fn(usize) -> bool) -> Option<usize> {
        let choose = |b: &Backend, healthy: bool| {
            healthy
                && self
                    .index_of(b)
                    .is_some_and(|i| !self.endpoints[i].passive.is_ejected() && accept(i))
        };
        let backend =
            with_lb!(&self.selector, lb => lb.select_with(key, MAX_SELECT_ITERATIONS, choose))?;
        self.index_of(&backend)
    }

    /// Whether endpoint `i` can take traffic now.
    pub fn is_available(&self, i: usize) -> bool {
        let ready = with_lb!(&self.selector, lb => lb.backends().ready(&self.backends[i]));
        ready && !self.endpoints[i].passive.is_ejected()
    }

    /// Whether any endpoint can take traffic now.
    pub fn any_available(&self) -> bool {
        (0..self.endpoints.len()).any(|i| self.is_available(i))
    }

    /// Index of the endpoint the balancer knows by `key`.
    pub fn position(&self, key: &std::net::SocketAddr) -> Option<usize> {
        self.endpoints.iter().position(|e| &e.balancer_key == key)
    }

    fn index_of(&self, b: &Backend) -> Option<usize> {
        self.position(b.addr.as_inet()?)
    }

    /// Runs one active health-check pass over every endpoint, concurrently.
    pub async fn run_health_check(&self) {
        with_lb!(&self.selector, lb => lb.backends().run_health_check(true).await)
    }
}

fn build_lb<S>(set: BTreeSet<Backend>, check: Option<ActiveCheck>) -> LoadBalancer<S>
where
    S: pingora::lb::selection::BackendSelection + 'static,
    S::Iter: pingora::lb::selection::BackendIter,
{
    let mut backends = Backends::new(discovery::Static::new(set));
    if let Some(check) = check {
        backends.set_health_check(Box::new(check));
    }
    let lb = LoadBalancer::from_backends(backends);
    // Static discovery resolves immediately; this only builds the selector.
    if let Some(Err(e)) = lb.update().now_or_never() {
        log::error!("building the endpoint selector failed: {e}");
    }
    lb
}
