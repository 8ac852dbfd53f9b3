//! One request's upstream attempts: which endpoint the next attempt goes to
//! (sticky pin, consistent-hash key, balancer, failover to the backup pool,
//! or the same endpoint again when a stale pooled connection is replaced),
//! what each outcome counts, and whether a failed attempt is tried again.
//!
//! Every failure (a failed connect, a retryable status, an error while
//! exchanging) is described as one [`RetryInput`] built in one place and
//! decided by the cluster's [`RetryPolicy`](super::RetryPolicy).

use super::{find_cookie, Cluster, EndpointRef, Failure, RetryDecision, RetryInput, Tried};
use crate::config::HashKey;
use http::header::COOKIE;
use http::HeaderValue;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};
use std::net::IpAddr;

/// The upstream attempt state of one request.
#[derive(Debug, Default)]
pub(crate) struct Attempt {
    /// The endpoint of the current (last) attempt.
    endpoint: Option<EndpointRef>,
    /// Endpoints already attempted.
    tried: Tried,
    /// Attempts made (a transparent reconnect is not one).
    attempts: usize,
    /// The last attempt got a response whose status the policy retries.
    status_retry: bool,
    /// The next attempt replaces a stale pooled connection (not a retry).
    reconnecting: bool,
    /// `gateway_failover_total` was counted for this request.
    counted_failover: bool,
    /// Set-Cookie to pin this client to the chosen endpoint.
    pin_cookie: Option<HeaderValue>,
}

/// What a retry decision reads from the client side of the exchange.
#[derive(Debug, Clone, Copy)]
struct Exchange {
    /// Idempotent, with its whole body still in the retry buffer.
    replayable: bool,
    /// A response header already went to the client.
    response_started: bool,
}

impl Exchange {
    fn of(session: &Session) -> Self {
        Exchange {
            replayable: session.req_header().method.is_idempotent()
                && !session.as_ref().retry_buffer_truncated(),
            response_started: session.response_written().is_some(),
        }
    }
}

impl Attempt {
    /// Attempts made so far (reconnects excluded).
    pub(crate) fn attempts(&self) -> usize {
        self.attempts
    }

    /// The current endpoint's label in `cluster` (`-` before any attempt).
    pub(crate) fn endpoint_label<'c>(&self, cluster: &'c Cluster) -> &'c str {
        self.endpoint
            .map_or("-", |r| cluster.endpoint(r).label.as_str())
    }

    /// `upstream_peer`: chooses the endpoint of the next attempt and counts
    /// it (a retry, a failover). A fresh connection replacing a stale
    /// pooled one goes to the same endpoint (keeping the client's pin)
    /// while it is available. `Err` is a 503 when no endpoint is available,
    /// a 502 when every available one was tried.
    pub(crate) fn next_peer(
        &mut self,
        cluster: &Cluster,
        req: &RequestHeader,
        client_ip: Option<IpAddr>,
    ) -> Result<Box<HttpPeer>> {
        let reconnect_to = self
            .endpoint
            .filter(|r| self.reconnecting && cluster.pool(r.backup).is_available(r.index));
        let choice = match reconnect_to {
            Some(r) => r,
            None => self.choose(cluster, req, client_ip)?,
        };
        if choice.backup && !self.counted_failover {
            self.counted_failover = true;
            cluster.metrics().failover.inc();
        }
        if self.reconnecting {
            self.reconnecting = false;
        } else {
            self.attempts += 1;
            if self.attempts > 1 {
                cluster.metrics().retries.inc();
            }
        }
        self.status_retry = false;
        self.endpoint = Some(choice);
        self.tried.insert(choice);
        Ok(Box::new(cluster.endpoint(choice).peer.clone()))
    }

    /// A new endpoint outside the tried ones: the client's sticky pin on a
    /// first attempt, else by the cluster's balancer; records the cookie
    /// that (re-)pins the client.
    fn choose(
        &mut self,
        cluster: &Cluster,
        req: &RequestHeader,
        client_ip: Option<IpAddr>,
    ) -> Result<EndpointRef> {
        let pinned = match (&cluster.sticky, self.attempts) {
            (Some(sticky), 0) => find_cookie(req.headers.get_all(COOKIE).iter(), &sticky.cookie),
            _ => None,
        };
        let mut ip_buf = [0u8; 16];
        let key = hash_key(cluster, req, client_ip, &mut ip_buf);
        let Some(choice) = cluster.choose(key, pinned, &self.tried) else {
            let status = if self.tried.is_empty() { 503 } else { 502 };
            return Error::e_explain(
                ErrorType::HTTPStatus(status),
                format!("cluster {}: no available endpoint", cluster.name),
            );
        };
        if let Some(sticky) = &cluster.sticky {
            let id = cluster.endpoint(choice).sticky_id.as_str();
            if pinned != Some(id) {
                self.pin_cookie = sticky.set_cookie(id);
            }
        }
        Ok(choice)
    }

    /// `connected_to_upstream`: counts the connection (new or reused) and
    /// ends the endpoint's run of connect failures.
    pub(crate) fn on_connected(&self, cluster: &Cluster, reused: bool) {
        let Some(r) = self.endpoint else { return };
        let counter = if reused {
            &cluster.metrics().connections_reused
        } else {
            &cluster.metrics().connections_new
        };
        counter.inc();
        cluster.endpoint(r).passive.on_connect_success();
    }

    /// `fail_to_connect`: counts the failure against the endpoint (passive
    /// ejection), logs a TLS handshake failure, and marks `e` retryable
    /// when the policy retries it.
    pub(crate) fn on_connect_failure(
        &self,
        cluster: &Cluster,
        session: &Session,
        peer: &HttpPeer,
        e: &mut Error,
    ) {
        if let Some(r) = self.endpoint {
            cluster.on_connect_failure(r);
            super::tls::log_handshake_failure(cluster, r, peer, e);
        }
        let decision = self.decide(cluster, Failure::Connect, Exchange::of(session));
        e.set_retry(decision == RetryDecision::Retry);
    }

    /// `upstream_response_filter`: an upstream response with `status`.
    /// `Err` (a retryable error) when the policy retries that status for
    /// this request; the proxy then makes another attempt.
    pub(crate) fn on_status(
        &mut self,
        cluster: &Cluster,
        session: &Session,
        status: u16,
    ) -> Result<()> {
        self.status(cluster, Exchange::of(session), status)
    }

    fn status(&mut self, cluster: &Cluster, exchange: Exchange, status: u16) -> Result<()> {
        if !cluster.retry.retries_status(status) {
            return Ok(());
        }
        if self.decide(cluster, Failure::Status(status), exchange) != RetryDecision::Retry {
            return Ok(());
        }
        if let Some(r) = self.endpoint {
            cluster.endpoint(r).attempts().retryable_status.inc();
        }
        self.status_retry = true;
        let mut e = Error::explain(ErrorType::HTTPStatus(status), "retryable upstream status");
        e.set_retry(true);
        Err(e.into_up())
    }

    /// `error_while_proxy`: classifies `e` (a retryable status from
    /// [`Attempt::on_status`], or what Pingora reported; `reused`: the
    /// upstream connection came from the pool), counts it against the
    /// endpoint when it is to blame, and marks `e` retryable when the
    /// request is tried again, on another endpoint or, for a stale pooled
    /// connection, transparently on the same one.
    pub(crate) fn on_proxy_error(
        &mut self,
        cluster: &Cluster,
        session: &Session,
        e: &mut Error,
        reused: bool,
    ) {
        self.proxy_error(cluster, Exchange::of(session), e, reused);
    }

    fn proxy_error(&mut self, cluster: &Cluster, exchange: Exchange, e: &mut Error, reused: bool) {
        let failure = match (self.status_retry, e.etype()) {
            (true, ErrorType::HTTPStatus(code)) => Failure::Status(*code),
            _ => Failure::of(e, reused),
        };
        let decision = self.decide(cluster, failure, exchange);
        if failure.blames_endpoint() {
            if let Some(r) = self.endpoint {
                cluster.endpoint(r).attempts().error.inc();
            }
        }
        if decision == RetryDecision::Reconnect {
            // Transparent: neither an upstream failure nor a retry.
            if let Some(r) = self.endpoint {
                self.tried.remove(r);
            }
            self.reconnecting = true;
        }
        e.set_retry(decision != RetryDecision::GiveUp);
    }

    /// The `Set-Cookie` that pins the client to the chosen endpoint, once
    /// (for the response header).
    pub(crate) fn take_pin_cookie(&mut self) -> Option<HeaderValue> {
        self.pin_cookie.take()
    }

    /// `logging`, when the request ended without an error: counts a
    /// successful attempt on the endpoint.
    pub(crate) fn on_success(&self, cluster: &Cluster) {
        if let Some(r) = self.endpoint {
            cluster.endpoint(r).attempts().success.inc();
        }
    }

    /// The policy's answer for `failure` of the current attempt.
    fn decide(&self, cluster: &Cluster, failure: Failure, exchange: Exchange) -> RetryDecision {
        cluster.retry.decide(&RetryInput {
            failure,
            replayable: exchange.replayable,
            // A failed connect sent nothing, whatever the client has.
            response_started: failure != Failure::Connect && exchange.response_started,
            attempts_made: self.attempts,
            candidate_left: cluster.has_candidate(&self.tried),
        })
    }
}

/// The consistent-hash key of a request (empty when the cluster does not
/// hash or the key is absent); `ip_buf` holds a client-address key.
fn hash_key<'a>(
    cluster: &Cluster,
    req: &'a RequestHeader,
    client_ip: Option<IpAddr>,
    ip_buf: &'a mut [u8; 16],
) -> &'a [u8] {
    match &cluster.hash_key {
        None => b"",
        Some(HashKey::Path) => req.uri.path().as_bytes(),
        Some(HashKey::Header(name)) => req.headers.get(name.as_str()).map_or(b"", |v| v.as_bytes()),
        Some(HashKey::Cookie(name)) => {
            find_cookie(req.headers.get_all(COOKIE).iter(), name).map_or(b"", |v| v.as_bytes())
        }
        Some(HashKey::ClientIp) => match client_ip {
            Some(IpAddr::V4(v4)) => {
                ip_buf[..4].copy_from_slice(&v4.octets());
                &ip_buf[..4]
            }
            Some(IpAddr::V6(v6)) => {
                *ip_buf = v6.octets();
                &ip_buf[..]
            }
            None => b"",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClusterConfig;
    use pingora::upstreams::peer::Peer;
    use pingora::RetryType;
    use std::sync::Arc;

    fn cluster(yaml: &str) -> Arc<Cluster> {
        let cfg: ClusterConfig = serde_yaml::from_str(yaml).unwrap();
        Cluster::new("unit-attempt", &cfg)
    }

    fn get(cookie: Option<&str>) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/x", None).unwrap();
        if let Some(c) = cookie {
            req.insert_header(COOKIE, c).unwrap();
        }
        req
    }

    const REPLAYABLE: Exchange = Exchange {
        replayable: true,
        response_started: false,
    };

    #[test]
    fn every_endpoint_once_then_502_and_503_without_any() {
        let c = cluster("endpoints: [ { address: '127.0.0.1:1' }, { address: '127.0.0.1:2' } ]");
        let mut a = Attempt::default();
        let first = a.next_peer(&c, &get(None), None).unwrap();
        let second = a.next_peer(&c, &get(None), None).unwrap();
        assert_ne!(first.address(), second.address());
        assert_eq!(a.attempts(), 2);
        let e = a.next_peer(&c, &get(None), None).unwrap_err();
        assert_eq!(*e.etype(), ErrorType::HTTPStatus(502));
        assert_eq!(a.attempts(), 2);
        let none = cluster("endpoints: []");
        let e = Attempt::default()
            .next_peer(&none, &get(None), None)
            .unwrap_err();
        assert_eq!(*e.etype(), ErrorType::HTTPStatus(503));
    }

    #[test]
    fn a_stale_pooled_connection_reconnects_to_the_same_endpoint_uncounted() {
        let c = cluster("endpoints: [ { address: '127.0.0.1:1' }, { address: '127.0.0.1:2' } ]");
        let mut a = Attempt::default();
        let first = a.next_peer(&c, &get(None), None).unwrap();
        let mut stale = Error::explain(ErrorType::ConnectionClosed, "pooled").into_up();
        stale.retry = RetryType::ReusedOnly;
        a.proxy_error(&c, REPLAYABLE, &mut stale, true);
        assert!(stale.retry());
        let again = a.next_peer(&c, &get(None), None).unwrap();
        assert_eq!(first.address(), again.address());
        assert_eq!(a.attempts(), 1);
    }

    #[test]
    fn a_retryable_status_is_an_error_only_when_the_policy_retries_it() {
        let c = cluster(
            "endpoints: [ { address: '127.0.0.1:1' }, { address: '127.0.0.1:2' } ]\n\
             retries: { attempts: 1, on: [ 503 ] }",
        );
        let mut a = Attempt::default();
        a.next_peer(&c, &get(None), None).unwrap();
        assert!(a.status(&c, REPLAYABLE, 500).is_ok());
        let mut e = a.status(&c, REPLAYABLE, 503).unwrap_err();
        a.proxy_error(&c, REPLAYABLE, &mut e, false);
        assert!(e.retry(), "a status retry goes to another endpoint");
        a.next_peer(&c, &get(None), None).unwrap();
        assert!(a.status(&c, REPLAYABLE, 503).is_ok(), "budget spent");
    }

    #[test]
    fn sticky_clusters_pin_unpinned_clients_only() {
        let c = cluster(
            "endpoints: [ { address: '127.0.0.1:1' } ]\nsticky: { cookie: pin, secret: unit }",
        );
        let mut a = Attempt::default();
        a.next_peer(&c, &get(None), None).unwrap();
        let cookie = a.take_pin_cookie().expect("a new client is pinned");
        assert!(cookie.to_str().unwrap().starts_with("pin="));
        assert!(a.take_pin_cookie().is_none());
        let id = &c.primary.endpoints[0].sticky_id;
        let mut pinned = Attempt::default();
        pinned
            .next_peer(&c, &get(Some(&format!("pin={id}"))), None)
            .unwrap();
        assert!(pinned.take_pin_cookie().is_none());
        assert_eq!(pinned.endpoint_label(&c), c.primary.endpoints[0].label);
    }
}
