//! How the process stops: rolling restarts without failed requests.
//!
//! Pingora decides when the listeners stop ([`ShutdownSignalWatch`]); the
//! gateway decides what to tell it and when, and exits as soon as nothing
//! is left to serve instead of sleeping through the whole grace period.
//!
//! - **SIGTERM** or **`POST /drain`** (admin): `/ready` answers 503 at once
//!   (`Lifecycle::is_draining`); the proxy listeners keep serving for
//!   `gateway.shutdown.drain_delay` (read from the current generation when
//!   the drain starts) so a balancer's health check takes the instance out;
//!   then Pingora is told `GracefulTerminate` and the listeners stop.
//! - **SIGQUIT** (upgrade, with a new process started with `-u`): `/ready`
//!   answers 503 at once and Pingora is told `GracefulUpgrade` with no drain
//!   delay, since the new process takes over the listening sockets.
//! - **SIGINT**: `FastShutdown`, as in Pingora.
//!
//! After a graceful stop, [`exit_when_drained`] waits until every proxy
//! service has stopped accepting and finished its clean-up
//! (`crate::control::drain`), no client connection is open and no request
//! is in flight (`Lifecycle::wait_drained` in `crate::control::lifecycle`);
//! then it flushes the access log and exits with status 0. Pingora's grace period (`grace_period_seconds`, counted
//! from the moment the listeners stop) still bounds the wait: when it ends
//! first, `Server::run` returns and `main` flushes and exits.
//! [`flush_at_exit`] makes sure only one of the two ever exits.

use crate::control::state::GatewayState;
use async_trait::async_trait;
use pingora::server::{RunArgs, ShutdownSignal, ShutdownSignalWatch};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, Signal, SignalKind};

/// `RunArgs` whose shutdown signals follow the gateway's rules (module
/// docs); `flush_wait` bounds the access log's flush at an early exit.
pub fn run_args(state: &Arc<GatewayState>, flush_wait: Duration) -> RunArgs {
    RunArgs {
        shutdown_signal: Box::new(Signals {
            state: state.clone(),
            flush_wait,
        }),
    }
}

/// Flushes the access log (within `wait`) as the process exits after
/// `Server::run` returned. When the process is already exiting because it
/// drained early (`exit_when_drained`), this never returns: that exit
/// flushes and ends the process.
pub fn flush_at_exit(state: &GatewayState, wait: Duration) {
    if state.lifecycle().claim_exit() {
        state.access_log().flush(wait);
        return;
    }
    loop {
        std::thread::park();
    }
}

/// The gateway's [`ShutdownSignalWatch`].
struct Signals {
    state: Arc<GatewayState>,
    flush_wait: Duration,
}

/// A Unix signal stream, or nothing when it cannot be registered.
struct Listen(Option<Signal>);

impl Listen {
    fn new(kind: SignalKind, name: &str) -> Self {
        match signal(kind) {
            Ok(s) => Listen(Some(s)),
            Err(e) => {
                log::error!("cannot listen for {name}: {e}");
                Listen(None)
            }
        }
    }

    /// The next delivery; never, if the stream is missing or ended.
    async fn next(&mut self) {
        if let Some(s) = &mut self.0 {
            if s.recv().await.is_some() {
                return;
            }
        }
        std::future::pending::<()>().await;
    }
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let mut term = Listen::new(SignalKind::terminate(), "SIGTERM");
        let mut quit = Listen::new(SignalKind::quit(), "SIGQUIT");
        let mut int = Listen::new(SignalKind::interrupt(), "SIGINT");
        let lifecycle = self.state.lifecycle();
        let cause = tokio::select! {
            _ = term.next() => "SIGTERM",
            _ = lifecycle.drain_started() => "POST /drain",
            _ = quit.next() => return self.upgrade(),
            _ = int.next() => return fast(),
        };
        lifecycle.start_draining();
        let delay = self
            .state
            .current()
            .loaded
            .config
            .gateway
            .shutdown
            .drain_delay
            .0;
        log::info!(
            "{cause}: draining; /ready answers 503, the listeners serve for {delay:?} more (gateway.shutdown.drain_delay), then stop"
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = quit.next() => return self.upgrade(),
            _ = int.next() => return fast(),
        }
        self.stop(ShutdownSignal::GracefulTerminate)
    }
}

impl Signals {
    /// SIGQUIT: no drain delay, the new process takes the listeners.
    fn upgrade(&self) -> ShutdownSignal {
        self.state.lifecycle().start_draining();
        log::info!("SIGQUIT: /ready answers 503; handing the listeners to the new process");
        self.stop(ShutdownSignal::GracefulUpgrade)
    }

    /// Hands `signal` to Pingora and exits once drained.
    fn stop(&self, signal: ShutdownSignal) -> ShutdownSignal {
        let grace = self.state.startup().config.grace_period_seconds;
        log::info!(
            "stopping the listeners; once they have stopped, the process exits when no connection is open and no request is in flight, at the latest {grace}s later (grace_period_seconds)"
        );
        exit_when_drained(self.state.clone(), self.flush_wait);
        signal
    }
}

/// SIGINT: exit at once.
fn fast() -> ShutdownSignal {
    log::info!("SIGINT: fast shutdown");
    ShutdownSignal::FastShutdown
}

/// On its own thread: once the process is drained, flushes
/// the access log and exits with status 0, unless `main` is already exiting
/// because the grace period ended first.
fn exit_when_drained(state: Arc<GatewayState>, flush_wait: Duration) {
    let started = Instant::now();
    let spawned = std::thread::Builder::new()
        .name("gateway-exit".into())
        .spawn(move || {
            futures::executor::block_on(state.lifecycle().wait_drained());
            if state.lifecycle().claim_exit() {
                log::info!(
                    "drained {:?} after the stop began: no connection open, no request in flight; exiting",
                    started.elapsed()
                );
                state.access_log().flush(flush_wait);
                std::process::exit(0);
            }
        });
    if let Err(e) = spawned {
        log::warn!("cannot watch the drain, the process exits when the grace period ends: {e}");
    }
}
