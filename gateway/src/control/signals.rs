//! Signals that ask the running gateway to do something, each served by a
//! [`SignalService`]: SIGHUP reloads the config (the admin's
//! `POST /config/reload` does the same), SIGUSR1 reopens the access log
//! for logrotate (`POST /logs/reopen`, see [`super::reopen`]). The signals
//! that stop the process are `super::shutdown`'s.

use super::reopen::{reopen_access_log, REOPEN_WAIT};
use super::state::GatewayState;
use crate::observe::access_log::Reopen;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignalAction {
    /// SIGHUP: reload the config.
    Reload,
    /// SIGUSR1: reopen the access log file.
    ReopenAccessLog,
}

impl SignalAction {
    fn kind(self) -> SignalKind {
        match self {
            SignalAction::Reload => SignalKind::hangup(),
            SignalAction::ReopenAccessLog => SignalKind::user_defined1(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            SignalAction::Reload => "SIGHUP",
            SignalAction::ReopenAccessLog => "SIGUSR1",
        }
    }

    /// The admin endpoint that does the same, for the log line when the
    /// signal cannot be handled.
    fn admin_endpoint(self) -> &'static str {
        match self {
            SignalAction::Reload => "POST /config/reload",
            SignalAction::ReopenAccessLog => "POST /logs/reopen",
        }
    }

    async fn run(self, state: &Arc<GatewayState>) {
        match self {
            SignalAction::Reload => {
                log::info!("SIGHUP received, reloading the config");
                // Errors are logged and counted by `reload`.
                let _ = state.reload();
            }
            SignalAction::ReopenAccessLog => {
                log::info!("SIGUSR1 received, reopening the access log");
                // A reopen or a failure is logged by the writer.
                if let Reopen::Pending(path) = reopen_access_log(state).await {
                    log::warn!(
                        "access log: {} not reopened within {REOPEN_WAIT:?}; the writer reopens it when it catches up",
                        path.display()
                    );
                }
            }
        }
    }
}

/// Background service that runs its [`SignalAction`] on each delivery of
/// the signal.
pub(crate) struct SignalService {
    state: Arc<GatewayState>,
    action: SignalAction,
}

impl SignalService {
    /// A service running `action` over the gateway's state.
    pub(crate) fn new(state: Arc<GatewayState>, action: SignalAction) -> Self {
        Self { state, action }
    }
}

#[async_trait]
impl BackgroundService for SignalService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let action = self.action;
        let mut deliveries = match signal(action.kind()) {
            Ok(s) => s,
            Err(e) => {
                log::error!(
                    "cannot listen for {}, use the admin's {} instead: {e}",
                    action.name(),
                    action.admin_endpoint()
                );
                return;
            }
        };
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                got = deliveries.recv() => {
                    if got.is_none() {
                        return;
                    }
                    action.run(&self.state).await;
                }
            }
        }
    }
}
