//! Reopening the access log file for logrotate: on SIGUSR1
//! (`super::signals`) and on the admin's `POST /logs/reopen`.
//!
//! SIGUSR1's default action ends the process, so [`claim_sigusr1`] takes
//! the signal over while the server is being built, before it runs (and
//! before `-d` forks: the handler is inherited). From then on a SIGUSR1
//! that arrives before its `SignalService` listens is ignored, never fatal.

use crate::control::state::GatewayState;
use crate::observe::access_log::Reopen;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

/// Longest wait for the access log's writer to reopen the file.
pub(crate) const REOPEN_WAIT: Duration = Duration::from_secs(5);

/// Replaces SIGUSR1's default action (end the process) for the rest of
/// the process's life: tokio's handler, once registered, stays installed.
pub(crate) fn claim_sigusr1() {
    let register = || signal(SignalKind::user_defined1()).map(drop);
    let registered = match tokio::runtime::Handle::try_current() {
        Ok(_) => register(),
        // Outside a runtime (the binary's `main`), a throwaway one; its
        // handler outlives it.
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .and_then(|runtime| {
                let _entered = runtime.enter();
                register()
            }),
    };
    if let Err(e) = registered {
        log::error!(
            "cannot handle SIGUSR1, which therefore ends the process; reopen the access log with POST /logs/reopen: {e}"
        );
    }
}

/// Reopens the access log (off the async workers: the writer thread may
/// take a moment) and waits until it is done, at most [`REOPEN_WAIT`].
pub(crate) async fn reopen_access_log(state: &Arc<GatewayState>) -> Reopen {
    let state = state.clone();
    let path = state.access_log().path().map(ToOwned::to_owned);
    match tokio::task::spawn_blocking(move || state.access_log().reopen(REOPEN_WAIT)).await {
        Ok(outcome) => outcome,
        Err(e) => {
            log::error!("access log reopen: the reopening task failed: {e}");
            match path {
                Some(path) => Reopen::Pending(path),
                None => Reopen::NotAFile,
            }
        }
    }
}
