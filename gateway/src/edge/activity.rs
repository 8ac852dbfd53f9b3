//! What the process is serving right now: open client connections (every
//! proxy listener, whether or not its address has a gauge) and requests in
//! flight. A stopping gateway exits once both are zero
//! (`crate::control::shutdown`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Counts of open client connections and requests in flight.
#[derive(Debug, Default)]
pub(crate) struct ClientActivity {
    connections: AtomicUsize,
    requests: AtomicUsize,
    /// Woken whenever a count drops to zero.
    idle: Notify,
}

/// Which count an [`Active`] holds.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Connection,
    Request,
}

/// One unit of a count, released on drop.
#[derive(Debug)]
pub(crate) struct Active {
    activity: Arc<ClientActivity>,
    kind: Kind,
}

impl ClientActivity {
    fn counter(&self, kind: Kind) -> &AtomicUsize {
        match kind {
            Kind::Connection => &self.connections,
            Kind::Request => &self.requests,
        }
    }

    fn hold(self: &Arc<Self>, kind: Kind) -> Active {
        self.counter(kind).fetch_add(1, Ordering::SeqCst);
        Active {
            activity: self.clone(),
            kind,
        }
    }

    /// Counts a client connection until the guard drops.
    pub(crate) fn connection(self: &Arc<Self>) -> Active {
        self.hold(Kind::Connection)
    }

    /// Counts a request until the guard drops (after its `logging` phase).
    pub(crate) fn request(self: &Arc<Self>) -> Active {
        self.hold(Kind::Request)
    }

    /// Open client connections now.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Requests in flight now.
    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// No connection open and no request in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.connections() == 0 && self.requests() == 0
    }

    /// Returns once no connection is open and no request is in flight.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let woken = self.idle.notified();
            tokio::pin!(woken);
            // Registered before the check: a drop to zero in between wakes it.
            woken.as_mut().enable();
            if self.is_idle() {
                return;
            }
            woken.await;
        }
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        if self
            .activity
            .counter(self.kind)
            .fetch_sub(1, Ordering::SeqCst)
            == 1
        {
            self.activity.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn idle_once_every_connection_and_request_is_released() {
        let activity = Arc::new(ClientActivity::default());
        let connection = activity.connection();
        let request = activity.request();
        assert!(!activity.is_idle());
        let waiter = tokio::spawn({
            let activity = activity.clone();
            async move { activity.wait_idle().await }
        });
        drop(connection);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "a request is still in flight");
        drop(request);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken when the last count drops")
            .unwrap();
        assert_eq!((activity.connections(), activity.requests()), (0, 0));
    }
}
