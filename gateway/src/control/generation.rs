//! A config generation: the routing table and clusters compiled from one
//! validated config. The proxy reads the current generation through one
//! `arc-swap` load per request; a reload builds a new one beside it.

use crate::config::{ConfigError, ConfigSource, LoadedConfig};
use crate::hygiene::downstream::Downstream;
use crate::observe::metrics::METRICS;
use crate::observe::RouteMetrics;
use crate::response::page::ErrorPage;
use crate::route::headers::HeaderRules;
use crate::route::rewrite::RouteRewrite;
use crate::route::{HostMatch, Route, RouteMatch, RouteTable};
use crate::upstream::{load_tls_files, Cluster};
use http::Method;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Everything derived from one config.
pub struct Generation {
    /// Increases by one per successful load.
    pub id: u64,
    /// The config it was built from.
    pub loaded: LoadedConfig,
    /// Routes in precedence order.
    pub routes: RouteTable<Route>,
    /// Clusters by name.
    pub clusters: BTreeMap<String, Arc<Cluster>>,
    /// Client-side limits and path policy.
    pub downstream: Downstream,
    /// HTTPS listeners: certificates, client auth, ALPN.
    pub tls: Arc<crate::edge::tls::DownstreamTls>,
    /// Trusted proxies and global IP rules.
    pub client: crate::admission::client::ClientPolicy,
    /// Global and cluster limits (their state carries over reloads).
    pub limits: crate::admission::limits::GenerationLimits,
    /// The config hash (`crate::config::fingerprint`): equal on instances
    /// that run the same effective config.
    pub hash: String,
}

impl Generation {
    /// Compiles `loaded`. Clusters whose config equals one in `previous` are
    /// shared with it, so their health state carries over.
    pub fn build(
        loaded: LoadedConfig,
        previous: Option<&Generation>,
        id: u64,
    ) -> Result<Self, ConfigError> {
        let gw = &loaded.config.gateway;
        let file = loaded.source.display_name();
        let client = crate::admission::client::ClientPolicy::new(gw, &file)?;
        let mut clusters: BTreeMap<String, Arc<Cluster>> = BTreeMap::new();
        for (name, cfg) in &gw.clusters {
            // With the TLS files' contents, so replaced files rebuild the cluster.
            let mut cfg = cfg.clone();
            load_tls_files(name, &mut cfg, &loaded.source)?;
            // Limits are compiled apart: changing them keeps the cluster.
            cfg.limits = None;
            let reused = previous
                .and_then(|p| p.clusters.get(name))
                .filter(|c| c.config == cfg)
                .cloned();
            let cluster = reused.unwrap_or_else(|| Cluster::new(name, &cfg));
            clusters.insert(name.clone(), cluster);
        }
        let tls = Arc::new(crate::edge::tls::DownstreamTls::build(
            &gw.listeners,
            &loaded.source,
        )?);
        let limits =
            crate::admission::limits::GenerationLimits::new(gw, previous.map(|p| &p.limits));
        let mut routes = Vec::with_capacity(gw.routes.len());
        for (i, rc) in gw.routes.iter().enumerate() {
            let name = rc.name.clone().unwrap_or_else(|| format!("route{i}"));
            let error_page = match &rc.error_page {
                Some(ep) => Some(load_error_page(
                    &loaded.source,
                    &ep.file,
                    &ep.content_type,
                    i,
                )?),
                None => None,
            };
            let methods = rc.matcher.methods.as_ref().map(|ms| {
                ms.iter()
                    .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                    .collect()
            });
            let cache = rc
                .cache
                .as_ref()
                .map(|c| Arc::new(crate::cache::RouteCache::new(&name, c)));
            let auth = match &rc.auth {
                Some(a) => Some(Arc::new(crate::admission::auth::RouteAuth::new(
                    &name,
                    i,
                    a,
                    &loaded.source,
                )?)),
                None => None,
            };
            let guard = Arc::new(crate::admission::request_guard::RouteGuard::new(
                rc,
                &gw.downstream,
                &name,
                i,
                &file,
            )?);
            let previous_route = previous.and_then(|p| p.routes.iter().find(|r| r.name == name));
            let prefix = rc.matcher.path_prefix.as_deref().unwrap_or("/");
            let matcher = RouteMatch {
                host: HostMatch::new(rc.matcher.host.as_deref()),
                prefix: prefix.to_string(),
                methods,
                config_index: i,
            };
            let route = Route {
                guard,
                limits: limits.route(&name, rc, previous_route.map(|r| &r.limits)),
                cache,
                auth,
                metrics: RouteMetrics::new(&name),
                grpc: crate::protocol::grpc::GrpcCounters::new(&name),
                name,
                cluster: clusters[&rc.cluster].clone(),
                rewrite: RouteRewrite::new(prefix, rc.rewrite.as_ref(), rc.query.as_ref()),
                request_headers: rc
                    .request_headers
                    .as_ref()
                    .map(HeaderRules::new)
                    .unwrap_or_default(),
                response_headers: rc
                    .response_headers
                    .as_ref()
                    .map(HeaderRules::new)
                    .unwrap_or_default(),
                error_page,
                tls: crate::edge::tls::RouteTls::new(rc),
                websocket: crate::protocol::websocket::RouteWebSocket::new(rc),
                redirect_https: crate::edge::HttpsRedirect::new(rc, &gw.listeners),
            };
            routes.push((matcher, route));
        }
        let downstream = Downstream::new(&gw.downstream);
        let hash = crate::config::fingerprint::config_hash(&loaded.config);
        Ok(Generation {
            id,
            loaded,
            routes: RouteTable::new(routes),
            clusters,
            downstream,
            tls,
            client,
            limits,
            hash,
        })
    }

    /// Publishes the generation's cluster metrics, health gauges and auth
    /// failure series. Building
    /// has no side effects; this runs only once the whole generation built
    /// and is about to be swapped in.
    pub fn activate(&self) {
        for cluster in self.clusters.values() {
            cluster.activate();
        }
        for auth in self.routes.iter().filter_map(|r| r.auth.as_ref()) {
            auth.activate();
        }
        self.tls.activate();
        METRICS
            .config_info
            .with_label_values(&[self.hash.as_str(), &self.id.to_string()])
            .set(1);
    }

    /// Removes the `gateway_config_info` series of a generation that no
    /// longer serves.
    pub(crate) fn retire(&self) {
        let _ = METRICS
            .config_info
            .remove_label_values(&[self.hash.as_str(), &self.id.to_string()]);
    }

    /// Whether at least one route has an endpoint that can take traffic.
    pub fn ready(&self) -> bool {
        self.routes.iter().any(|r| r.cluster.any_available())
    }
}

fn load_error_page(
    source: &ConfigSource,
    file: &str,
    content_type: &str,
    route: usize,
) -> Result<ErrorPage, ConfigError> {
    let path = source.base_dir().join(file);
    ErrorPage::load(&path, content_type).map_err(|e| {
        ConfigError::at(
            &source.display_name(),
            format!("gateway.routes[{route}].error_page.file"),
            format!("cannot read `{}`: {e}", path.display()),
        )
    })
}
