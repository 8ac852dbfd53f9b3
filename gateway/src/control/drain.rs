//! Connection draining at shutdown.
//!
//! When a Pingora service stops accepting (SIGTERM, or the old process of
//! an upgrade), it immediately closes every connection still waiting for a
//! request header. A connection accepted in the same instant, whose request
//! is already on the wire, is closed unanswered: the client sees "connection
//! closed before message completed". [`Drained`] delays that clean-up so such
//! requests are read and served (with `Connection: close`) first.
//!
//! It is also where each new client connection gets its request-header
//! deadline ([`crate::edge::header_timeout`]), read from the current generation so
//! a reload applies to new connections, and where its requests are served
//! ([`crate::edge::keepalive`]); idle keep-alive connections are closed when the
//! clean-up starts. Once it has run, the service counts as stopped for
//! [`crate::control::shutdown`], which exits the process when every service
//! has stopped and nothing is left to serve.

use crate::control::state::GatewayState;
use crate::edge::header_timeout::HeaderDeadline;
use crate::edge::keepalive::{self, IdleWait};
use async_trait::async_trait;
use pingora::apps::{HttpServerApp, ServerApp};
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Longest clean-up delay; bounded by half the grace period as well.
pub(crate) const MAX_DRAIN_DELAY: Duration = Duration::from_millis(500);

/// A server app whose clean-up waits `delay` after the listeners stop, and
/// whose connections must send request headers in time.
pub(crate) struct Drained<A> {
    inner: Arc<A>,
    delay: Duration,
    state: Arc<GatewayState>,
    /// Set when the clean-up starts: idle connections close.
    closing: watch::Sender<bool>,
}

impl<A> Drained<A> {
    /// Wraps `inner`; the delay is [`MAX_DRAIN_DELAY`] or half of
    /// `grace_period`, whichever is shorter, so it ends well within the
    /// grace period.
    pub(crate) fn new(inner: A, grace_period: Duration, state: Arc<GatewayState>) -> Self {
        state.lifecycle().listener_started();
        Drained {
            inner: Arc::new(inner),
            delay: MAX_DRAIN_DELAY.min(grace_period / 2),
            state,
            closing: watch::Sender::new(false),
        }
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for Drained<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let (header_timeout, idle_timeout) = {
            let generation = self.state.current();
            let downstream = &generation.downstream;
            (
                downstream.read_header_timeout,
                downstream.keepalive_timeout(),
            )
        };
        let stream = HeaderDeadline::wrap(stream, header_timeout);
        let idle = IdleWait {
            timeout: idle_timeout,
            closing: self.closing.subscribe(),
        };
        keepalive::serve(&self.inner, stream, shutdown, idle).await
    }

    async fn cleanup(&self) {
        tokio::time::sleep(self.delay).await;
        self.closing.send_replace(true);
        ServerApp::cleanup(&*self.inner).await;
        self.state.lifecycle().listener_stopped();
    }
}
