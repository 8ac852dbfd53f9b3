//! Reload on SIGHUP (the admin service offers `POST /config/reload` too).

use crate::control::state::GatewayState;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};

/// Background service that reloads the config on each SIGHUP.
pub(crate) struct SighupReloader {
    state: Arc<GatewayState>,
}

impl SighupReloader {
    /// A reloader over the gateway's state.
    pub(crate) fn new(state: Arc<GatewayState>) -> Self {
        Self { state }
    }
}

#[async_trait]
impl BackgroundService for SighupReloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                log::error!("cannot listen for SIGHUP, reload only via the admin API: {e}");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                got = hangups.recv() => {
                    if got.is_none() {
                        return;
                    }
                    log::info!("SIGHUP received, reloading the config");
                    // Errors are logged and counted by `reload`.
                    let _ = self.state.reload();
                }
            }
        }
    }
}
