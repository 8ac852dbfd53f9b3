//! Assembles the Pingora server: proxy listeners, admin, health checks,
//! the SIGHUP reloader and the SIGUSR1 access-log reopener, all sharing
//! one [`GatewayState`].

use crate::config::{Config, ConfigError, LoadedConfig};
use crate::control::admin::AdminApp;
use crate::control::drain::Drained;
use crate::control::health::HealthService;
use crate::control::reopen::claim_sigusr1;
use crate::control::signals::{SignalAction, SignalService};
use crate::control::state::GatewayState;
use crate::control::watch::ConfigWatcher;
use crate::edge::tls::TlsTerminated;
use crate::edge::{ClientConnections, EdgeListeners};
use crate::proxy::GatewayProxy;
use pingora::apps::HttpServerOptions;
use pingora::listeners::{L4BufferSettings, ListenerConfig, DEFAULT_L4_WRITE_BUFFER_SIZE};
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use std::sync::Arc;
use std::time::Duration;

/// Pingora's server settings from the top-level config keys.
pub(crate) fn server_conf(config: &Config) -> ServerConf {
    ServerConf {
        version: config.version,
        threads: config.threads,
        work_stealing: config.work_stealing,
        upstream_keepalive_pool_size: config.upstream_keepalive_pool_size,
        pid_file: config.pid_file.clone(),
        upgrade_sock: config.upgrade_sock.clone(),
        grace_period_seconds: Some(config.grace_period_seconds),
        graceful_shutdown_timeout_seconds: Some(config.graceful_shutdown_timeout_seconds),
        daemon: config.daemon,
        error_log: config.error_log.clone(),
        ..Default::default()
    }
}

/// The per-connection socket buffers of the proxy listeners: the read side
/// from `gateway.downstream.read_buffer` (Pingora's own default is 64 KiB,
/// held by every idle keep-alive connection), the write side as Pingora has it.
pub(crate) fn downstream_buffers(config: &Config) -> L4BufferSettings {
    L4BufferSettings::new(
        config.gateway.downstream.read_buffer.as_usize(),
        DEFAULT_L4_WRITE_BUFFER_SIZE,
    )
}

/// Creates the default private directory when the pid file or upgrade
/// socket lives there (see [`crate::config::runtime_dir`]).
fn prepare_runtime_dir(config: &Config, loaded: &LoadedConfig) -> Result<(), ConfigError> {
    let dir = crate::config::runtime_dir::default_dir();
    for (key, path) in [
        ("pid_file", &config.pid_file),
        ("upgrade_sock", &config.upgrade_sock),
    ] {
        if std::path::Path::new(path).parent() == Some(dir.as_path()) {
            crate::config::runtime_dir::ensure_private(&dir).map_err(|e| {
                ConfigError::at(
                    &loaded.source.display_name(),
                    key,
                    format!("cannot prepare the default directory: {e}"),
                )
            })?;
        }
    }
    Ok(())
}

/// Builds a bootstrapped server ready to `run`. `opt` carries Pingora's CLI
/// flags (`-d`, `-u`); its `conf` must already be taken out.
pub fn build(
    opt: Option<Opt>,
    loaded: LoadedConfig,
) -> Result<(Server, Arc<GatewayState>), ConfigError> {
    // Before anything else: from here on SIGUSR1 (logrotate's reopen)
    // no longer ends the process.
    claim_sigusr1();
    let config = loaded.config.clone();
    prepare_runtime_dir(&config, &loaded)?;
    crate::cache::init(&config.gateway.cache_storage);
    let state = Arc::new(GatewayState::new(loaded)?);
    let mut server = Server::new_with_opt_and_conf(opt, server_conf(&config));
    server.bootstrap();

    let edge = Arc::new(EdgeListeners::new(
        &config.gateway.listeners,
        state.lifecycle().activity().clone(),
    ));
    // Plaintext HTTP/1.1, h2c, then HTTPS (whose handshake the gateway runs
    // itself, see `downstream_tls`).
    for (name, h2c, tls) in [
        ("gateway proxy", false, false),
        ("gateway proxy (h2c)", true, false),
        ("gateway proxy (tls)", false, true),
    ] {
        let addrs: Vec<String> = config
            .gateway
            .listeners
            .iter()
            .filter(|l| l.h2c == h2c && l.tls.is_some() == tls)
            .map(|l| l.address.to_string())
            .collect();
        if addrs.is_empty() {
            continue;
        }
        let mut proxy =
            pingora::proxy::http_proxy(&server.configuration, GatewayProxy::new(state.clone()));
        let mut options = HttpServerOptions::default();
        options.h2c = h2c;
        // Pingora counts reuses: a limit of N reuses serves N + 1 requests.
        options.keepalive_request_limit = config
            .gateway
            .downstream
            .max_requests_per_connection
            .map(|n| n.saturating_sub(1));
        proxy.server_options = Some(options);
        let grace = Duration::from_secs(config.grace_period_seconds);
        let drained = Drained::new(proxy, grace, state.clone());
        let buffers = downstream_buffers(&config);
        let listeners = addrs
            .iter()
            .map(|addr| ListenerConfig::tcp(addr.as_str()).l4_buffer(buffers));
        if tls {
            let app = TlsTerminated::new(drained, state.clone());
            let app = ClientConnections::new(app, edge.clone(), state.clone());
            let mut service = Service::new(name.to_string(), app);
            listeners.for_each(|l| service.add_listener(l));
            server.add_service(service);
        } else {
            let app = ClientConnections::new(drained, edge.clone(), state.clone());
            let mut service = Service::new(name.to_string(), app);
            listeners.for_each(|l| service.add_listener(l));
            server.add_service(service);
        }
    }

    if let Some(admin) = &config.gateway.admin {
        let mut service = Service::new("gateway admin".to_string(), AdminApp::new(state.clone()));
        service.add_tcp(&admin.address.to_string());
        server.add_service(service);
    }
    server.add_service(background_service(
        "health checks",
        HealthService::new(state.clone()),
    ));
    server.add_service(background_service(
        "sighup reload",
        SignalService::new(state.clone(), SignalAction::Reload),
    ));
    server.add_service(background_service(
        "sigusr1 log reopen",
        SignalService::new(state.clone(), SignalAction::ReopenAccessLog),
    ));
    server.add_service(background_service(
        "config watch",
        ConfigWatcher::new(state.clone()),
    ));
    Ok((server, state))
}
