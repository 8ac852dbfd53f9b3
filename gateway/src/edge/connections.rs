//! The outermost app of every proxy listener: counts the connection in
//! `gateway_downstream_connections{listener}` and in the process's
//! [`ClientActivity`] for as long as it is open,
//! reads the PROXY protocol header on listeners with `proxy_protocol`
//! (before TLS, which comes next), and serves the connection's requests.

use super::activity::ClientActivity;
use super::metrics::EDGE_METRICS;
use super::proxy_protocol::{self, reason};
use super::EdgeSettings;
use crate::config::ListenerConfig;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::l4::socket::SocketAddr as PeerAddr;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{GetSocketDigest, SocketDigest, Stream};
use pingora::server::ShutdownWatch;
use prometheus::IntGauge;
use std::net::SocketAddr;
use std::os::unix::io::AsRawFd;
use std::sync::Arc;

/// One proxy listener as the process started (changing listeners needs a
/// restart).
struct EdgeListener {
    address: SocketAddr,
    label: String,
    proxy_protocol: bool,
    open: IntGauge,
}

/// The proxy listeners, found by a connection's local address.
pub(crate) struct EdgeListeners {
    listeners: Vec<EdgeListener>,
    /// Every open connection, on any listener.
    activity: Arc<ClientActivity>,
}

impl EdgeListeners {
    /// The listeners of `configs`; their gauges exist (at 0) from now on.
    /// Their connections are also counted in `activity`.
    pub(crate) fn new(configs: &[ListenerConfig], activity: Arc<ClientActivity>) -> Self {
        let listeners = configs
            .iter()
            .map(|l| {
                let label = l.address.to_string();
                EdgeListener {
                    address: l.address.0,
                    open: EDGE_METRICS
                        .downstream_connections
                        .with_label_values(&[label.as_str()]),
                    label,
                    proxy_protocol: l.proxy_protocol,
                }
            })
            .collect();
        EdgeListeners {
            listeners,
            activity,
        }
    }

    /// The exact address, else a listener on the unspecified address with
    /// the same port.
    fn find(&self, local: SocketAddr) -> Option<&EdgeListener> {
        crate::edge::listener_match::find_listener(&self.listeners, local, |l| l.address)
    }
}

/// Holds one unit of the open-connections gauge until dropped.
struct OpenConnection<'a>(&'a IntGauge);

impl<'a> OpenConnection<'a> {
    fn new(gauge: &'a IntGauge) -> Self {
        gauge.inc();
        OpenConnection(gauge)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A server app that owns each client connection from accept to close.
pub(crate) struct ClientConnections<A> {
    inner: Arc<A>,
    listeners: Arc<EdgeListeners>,
    settings: Arc<dyn EdgeSettings>,
}

impl<A> ClientConnections<A> {
    /// Wraps `inner` for `listeners`.
    pub(crate) fn new(
        inner: A,
        listeners: Arc<EdgeListeners>,
        settings: Arc<dyn EdgeSettings>,
    ) -> Self {
        ClientConnections {
            inner: Arc::new(inner),
            listeners,
            settings,
        }
    }

    /// Reads the PROXY header and makes its source the connection's peer
    /// address (what `Session::client_addr` reports); `None` closes.
    async fn take_proxy_header(&self, stream: Stream, listener: &EdgeListener) -> Option<Stream> {
        let mut l4 = match stream.into_any().downcast::<L4Stream>() {
            Ok(l4) => l4,
            Err(_) => {
                log::error!("PROXY protocol on {}: not a TCP stream", listener.label);
                return None;
            }
        };
        let timeout = self.settings.read_header_timeout();
        let header =
            match tokio::time::timeout(timeout, proxy_protocol::read_header(&mut *l4)).await {
                Ok(Ok(header)) => header,
                Ok(Err(why)) => return self.reject(listener, why),
                Err(_) => return self.reject(listener, reason::TIMEOUT),
            };
        l4.rewind(&header.rest);
        if let Some(source) = header.source {
            let digest = SocketDigest::from_raw_fd(l4.as_raw_fd());
            // A fresh cell: `set` cannot fail.
            let _ = digest.peer_addr.set(Some(PeerAddr::Inet(source)));
            l4.set_socket_digest(digest);
        }
        Some(l4)
    }

    fn reject(&self, listener: &EdgeListener, why: &'static str) -> Option<Stream> {
        log::debug!(
            "PROXY protocol header on {}: {why}; closing",
            listener.label
        );
        EDGE_METRICS
            .proxy_protocol_rejections
            .with_label_values(&[listener.label.as_str(), why])
            .inc();
        None
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for ClientConnections<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let local = stream
            .get_socket_digest()
            .and_then(|d| d.local_addr().and_then(|a| a.as_inet()).copied());
        let listener = local.and_then(|addr| self.listeners.find(addr));
        let _active = self.listeners.activity.connection();
        let _open = listener.map(|l| OpenConnection::new(&l.open));
        let mut stream = stream;
        if let Some(listener) = listener.filter(|l| l.proxy_protocol) {
            stream = self.take_proxy_header(stream, listener).await?;
        }
        // Kept-alive requests are served here rather than handed back to
        // the listener, so the connection stays counted until it closes.
        let mut next = self.inner.process_new(stream, shutdown).await;
        while let Some(stream) = next {
            next = self.inner.process_new(stream, shutdown).await;
        }
        None
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}
