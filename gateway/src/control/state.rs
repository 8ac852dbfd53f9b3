//! The gateway's live state: the current [`Generation`] behind an
//! `arc-swap`, and reloading it atomically.

use crate::config::{ConfigError, LoadedConfig};
use crate::control::generation::Generation;
use crate::observe::access_log::AccessLog;
use crate::observe::metrics::METRICS;
use arc_swap::ArcSwap;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// What a successful reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// The new generation's id.
    pub generation: u64,
    /// Settings that only take effect after a restart or upgrade.
    pub needs_restart: Vec<String>,
}

/// Shared by the proxy, the admin service and background services.
pub struct GatewayState {
    current: ArcSwap<Generation>,
    /// The config the process started with: listeners and server settings
    /// stay as it set them until a restart or upgrade.
    startup: LoadedConfig,
    /// `gateway.access_log` as the process started with it.
    access_log: AccessLog,
    reload_lock: Mutex<()>,
    /// Draining and exit (`crate::control::lifecycle`).
    lifecycle: crate::control::lifecycle::Lifecycle,
}

impl GatewayState {
    /// Compiles the first generation.
    pub fn new(loaded: LoadedConfig) -> Result<Self, ConfigError> {
        let generation = Generation::build(loaded.clone(), None, 1)?;
        let access_log = AccessLog::open(&loaded)?;
        generation.activate();
        log::info!(
            "config {}: generation {}, config hash {}",
            loaded.source.display_name(),
            generation.id,
            generation.hash
        );
        Ok(GatewayState {
            current: ArcSwap::from_pointee(generation),
            access_log,
            startup: loaded,
            reload_lock: Mutex::new(()),
            lifecycle: Default::default(),
        })
    }

    /// The config the process started with (listeners, admin and server
    /// settings keep its values until a restart).
    pub fn startup(&self) -> &LoadedConfig {
        &self.startup
    }

    /// The access log (configured at startup).
    pub fn access_log(&self) -> &AccessLog {
        &self.access_log
    }

    /// Draining, open connections and requests in flight, exit.
    pub(crate) fn lifecycle(&self) -> &crate::control::lifecycle::Lifecycle {
        &self.lifecycle
    }

    /// The generation serving now.
    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// Re-reads the config from its source, validates and compiles it, and
    /// swaps it in. On any error the current generation keeps serving.
    pub fn reload(&self) -> Result<ReloadOutcome, ConfigError> {
        self.apply(|current| current.loaded.source.load())
    }

    /// Like [`Self::reload`] for the config `load` returns (given the
    /// generation serving now): validated, compiled and swapped in, or
    /// rejected with the current generation kept; counted either way.
    pub(crate) fn apply(
        &self,
        load: impl FnOnce(&Generation) -> Result<LoadedConfig, ConfigError>,
    ) -> Result<ReloadOutcome, ConfigError> {
        let _guard = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.current();
        let result =
            load(&old).and_then(|loaded| Generation::build(loaded, Some(&old), old.id + 1));
        match result {
            Ok(new) => {
                let outcome = ReloadOutcome {
                    generation: new.id,
                    needs_restart: restart_only_changes(&self.startup, &new.loaded),
                };
                let new = Arc::new(new);
                new.activate();
                self.current.store(new.clone());
                forget_removed_endpoints(&old, &new);
                old.retire();
                METRICS.config_reloads.with_label_values(&["success"]).inc();
                log::info!(
                    "config reloaded from {}: generation {}, config hash {}",
                    new.loaded.source.display_name(),
                    new.id,
                    new.hash
                );
                for key in &outcome.needs_restart {
                    log::warn!("config reload: `{key}` changed; it takes effect after a restart or upgrade");
                }
                Ok(outcome)
            }
            Err(e) => {
                METRICS.config_reloads.with_label_values(&["failure"]).inc();
                log::error!(
                    "config reload rejected, generation {} keeps serving: {e}",
                    old.id
                );
                Err(e)
            }
        }
    }
}

fn restart_only_changes(old: &LoadedConfig, new: &LoadedConfig) -> Vec<String> {
    let (o, n) = (&old.config, &new.config);
    let mut changed = Vec::new();
    let mut check = |key: &str, differs: bool| {
        if differs {
            changed.push(key.to_string());
        }
    };
    check(
        "gateway.listeners",
        !crate::edge::tls::same_sockets(&o.gateway.listeners, &n.gateway.listeners),
    );
    check("gateway.admin", o.gateway.admin != n.gateway.admin);
    check(
        "gateway.cache_storage",
        o.gateway.cache_storage != n.gateway.cache_storage,
    );
    check(
        "gateway.access_log",
        o.gateway.access_log != n.gateway.access_log,
    );
    check(
        "gateway.downstream.read_buffer",
        o.gateway.downstream.read_buffer != n.gateway.downstream.read_buffer,
    );
    check("threads", o.threads != n.threads);
    check("work_stealing", o.work_stealing != n.work_stealing);
    check(
        "upstream_keepalive_pool_size",
        o.upstream_keepalive_pool_size != n.upstream_keepalive_pool_size,
    );
    check("pid_file", o.pid_file != n.pid_file);
    check("upgrade_sock", o.upgrade_sock != n.upgrade_sock);
    check(
        "grace_period_seconds",
        o.grace_period_seconds != n.grace_period_seconds,
    );
    check(
        "graceful_shutdown_timeout_seconds",
        o.graceful_shutdown_timeout_seconds != n.graceful_shutdown_timeout_seconds,
    );
    changed
}

/// Drops gauge series of endpoints that no longer exist, so `/metrics` does
/// not report stale health.
fn forget_removed_endpoints(old: &Generation, new: &Generation) {
    let series = |g: &Generation| -> BTreeSet<(String, String)> {
        g.clusters
            .values()
            .flat_map(|c| c.endpoint_labels().map(|l| (c.name.clone(), l.to_string())))
            .collect()
    };
    let kept = series(new);
    for (cluster, endpoint) in series(old).difference(&kept) {
        let _ = METRICS
            .upstream_healthy
            .remove_label_values(&[cluster, endpoint]);
    }
}

impl crate::edge::EdgeSettings for GatewayState {
    fn read_header_timeout(&self) -> std::time::Duration {
        self.current.load().downstream.read_header_timeout
    }

    fn handshake(&self) -> (Arc<crate::edge::tls::DownstreamTls>, std::time::Duration) {
        let generation = self.current.load();
        (
            generation.tls.clone(),
            generation.downstream.read_header_timeout,
        )
    }
}
