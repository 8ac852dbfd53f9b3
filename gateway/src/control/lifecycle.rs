//! The process's shutdown state: whether it drains (`/ready` answers 503),
//! which proxy services still listen, what is still being served, and which
//! exit path won. `crate::control::shutdown` drives it.

use crate::edge::activity::ClientActivity;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// Where the process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Serving; `/ready` follows the routes' health.
    Serving,
    /// `/ready` answers 503; the listeners still accept (the drain delay),
    /// or the stop has been handed to Pingora.
    Draining,
}

/// The process's shutdown state, shared by the signal watch, the admin
/// service, the proxy services and the proxy.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    phase: watch::Sender<Phase>,
    activity: Arc<ClientActivity>,
    /// Proxy services not yet stopped: still accepting, or in their
    /// clean-up (`crate::control::drain::Drained`).
    listening: watch::Sender<usize>,
    /// Set by whichever exit path runs first
    /// (`crate::control::shutdown::flush_at_exit`).
    exit_claimed: AtomicBool,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            phase: watch::Sender::new(Phase::Serving),
            activity: Arc::default(),
            listening: watch::Sender::new(0),
            exit_claimed: AtomicBool::new(false),
        }
    }
}

impl Lifecycle {
    /// Open client connections and requests in flight.
    pub(crate) fn activity(&self) -> &Arc<ClientActivity> {
        &self.activity
    }

    /// True from the start of a drain (SIGTERM, SIGQUIT, `POST /drain`):
    /// `/ready` answers 503.
    pub(crate) fn is_draining(&self) -> bool {
        *self.phase.borrow() != Phase::Serving
    }

    /// Returns once a drain has started (at once if it has).
    pub(crate) async fn drain_started(&self) {
        let mut phase = self.phase.subscribe();
        // The sender lives as long as `self`: the wait cannot fail.
        let _ = phase.wait_for(|p| *p != Phase::Serving).await;
    }

    /// Starts draining; false when it had already started.
    pub(crate) fn start_draining(&self) -> bool {
        self.phase.send_if_modified(|phase| {
            let start = *phase == Phase::Serving;
            *phase = Phase::Draining;
            start
        })
    }

    /// A proxy service was built: the process exits early only once it has
    /// stopped ([`Lifecycle::listener_stopped`]).
    pub(crate) fn listener_started(&self) {
        self.listening.send_modify(|n| *n += 1);
    }

    /// A proxy service stopped accepting and finished its clean-up.
    pub(crate) fn listener_stopped(&self) {
        self.listening.send_modify(|n| *n = n.saturating_sub(1));
    }

    /// Returns once every proxy service has stopped, no client connection
    /// is open and no request is in flight.
    pub(crate) async fn wait_drained(&self) {
        let mut listening = self.listening.subscribe();
        // The sender lives as long as `self`: the wait cannot fail.
        let _ = listening.wait_for(|n| *n == 0).await;
        self.activity.wait_idle().await;
    }

    /// True for the first caller only: that one exits the process.
    pub(crate) fn claim_exit(&self) -> bool {
        !self.exit_claimed.swap(true, Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn draining_starts_once() {
        let lifecycle = Lifecycle::default();
        assert!(!lifecycle.is_draining());
        assert!(lifecycle.start_draining());
        assert!(!lifecycle.start_draining());
        assert!(lifecycle.is_draining());
    }

    #[test]
    fn drained_once_listeners_stopped_and_nothing_is_active() {
        let lifecycle = Arc::new(Lifecycle::default());
        lifecycle.listener_started();
        let connection = lifecycle.activity().connection();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let waiter = {
            let lifecycle = lifecycle.clone();
            std::thread::spawn(move || {
                futures::executor::block_on(lifecycle.wait_drained());
                let _ = done_tx.send(());
            })
        };
        lifecycle.listener_stopped();
        assert!(
            done_rx.recv_timeout(Duration::from_millis(100)).is_err(),
            "a connection is still open"
        );
        drop(connection);
        done_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("drained once the last connection closed");
        waiter.join().unwrap();
    }

    #[test]
    fn only_one_exit_path_claims_the_exit() {
        let lifecycle = Lifecycle::default();
        assert!(lifecycle.claim_exit());
        assert!(!lifecycle.claim_exit());
    }
}
