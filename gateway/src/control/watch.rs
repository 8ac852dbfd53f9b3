//! `gateway.config_watch`: re-reads the config file the process started
//! with every `interval` and, when its content changed, applies it through
//! the same validated, atomic reload as SIGHUP (`GatewayState::apply`): a
//! rejected file leaves the current generation serving. Each read is
//! counted in `gateway_config_watch_checks_total{result}`.
//!
//! A file is applied once per distinct content: a rejected file is not
//! retried until it changes again. A changed file whose config hash equals
//! the serving one (comments, key order, or a reload that already applied
//! it) counts as unchanged and builds nothing. The interval is read from the
//! serving generation, so a reload can turn the watch on, off or retime it.

use crate::config::{self, fingerprint, ConfigError, ConfigSource};
use crate::control::state::GatewayState;
use crate::observe::metrics::{watch_result, METRICS};
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use ring::digest::{digest, SHA256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the service looks whether a reload turned the watch on, while
/// it is off.
const OFF_RECHECK: Duration = Duration::from_secs(1);

/// Background service watching the config file.
pub(crate) struct ConfigWatcher {
    state: Arc<GatewayState>,
    /// The file, or `None` for the embedded default config.
    path: Option<PathBuf>,
    /// SHA-256 of the content read last (at startup, then per check).
    last: Mutex<Option<Vec<u8>>>,
    /// The last read error logged, so a missing file is logged once.
    last_error: Mutex<Option<String>>,
}

fn content_digest(bytes: &[u8]) -> Vec<u8> {
    digest(&SHA256, bytes).as_ref().to_vec()
}

impl ConfigWatcher {
    /// A watcher of the file `state` started with; reads it now, so the
    /// first check compares with what the process started on.
    pub(crate) fn new(state: Arc<GatewayState>) -> Self {
        let path = match &state.startup().source {
            ConfigSource::File(p) => Some(p.clone()),
            ConfigSource::Embedded => None,
        };
        let last = path
            .as_deref()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| content_digest(&b));
        ConfigWatcher {
            state,
            path,
            last: Mutex::new(last),
            last_error: Mutex::new(None),
        }
    }

    fn interval(&self) -> Option<Duration> {
        let generation = self.state.current();
        let watch = generation.loaded.config.gateway.config_watch.as_ref()?;
        Some(watch.interval.0)
    }

    /// One check of `path`: the result label.
    fn check(&self, path: &Path) -> &'static str {
        let name = path.display();
        let bytes = match std::fs::read(path) {
            Ok(b) => {
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                b
            }
            Err(e) => {
                let message = e.to_string();
                let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
                if last.as_deref() != Some(message.as_str()) {
                    log::warn!("config watch: cannot read {name}, the current config keeps serving: {message}");
                    *last = Some(message);
                }
                return watch_result::UNREADABLE;
            }
        };
        let seen = content_digest(&bytes);
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if last.as_deref() == Some(seen.as_slice()) {
                return watch_result::UNCHANGED;
            }
            *last = Some(seen);
        }
        let loaded = match String::from_utf8(bytes) {
            Ok(text) => config::load_text(path, &text),
            Err(_) => Err(ConfigError::at(
                &name.to_string(),
                "",
                "cannot read the file: it is not UTF-8",
            )),
        };
        if let Ok(l) = &loaded {
            let serving = self.state.current();
            if fingerprint::config_hash(&l.config) == serving.hash {
                log::info!(
                    "config watch: {name} changed, but its effective config is the serving one (hash {})",
                    serving.hash
                );
                return watch_result::UNCHANGED;
            }
        }
        log::info!("config watch: {name} changed, applying it");
        // Logged and counted in `gateway_config_reloads_total` by `apply`.
        match self.state.apply(|_| loaded) {
            Ok(_) => watch_result::APPLIED,
            Err(_) => watch_result::REJECTED,
        }
    }
}

#[async_trait]
impl BackgroundService for ConfigWatcher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let Some(path) = self.path.clone() else {
            log::info!(
                "config watch: off, the embedded default config has no file to watch (start with -c FILE)"
            );
            return;
        };
        match self.interval() {
            Some(interval) => log::info!(
                "config watch: reading {} every {}",
                path.display(),
                humantime::format_duration(interval)
            ),
            None => log::info!(
                "config watch: off (no gateway.config_watch); a reload that sets it turns it on"
            ),
        }
        loop {
            let wait = self.interval().unwrap_or(OFF_RECHECK);
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            if self.interval().is_none() {
                continue;
            }
            let result = self.check(&path);
            METRICS
                .config_watch_checks
                .with_label_values(&[result])
                .inc();
        }
    }
}
