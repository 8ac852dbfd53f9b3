//! The TLS handshake of HTTPS listeners, done by the gateway rather than by
//! Pingora's listener: each connection uses the acceptor of the generation
//! serving when it arrives (so a reload swaps certificates and client CAs
//! for new connections), the handshake is bounded by
//! `gateway.downstream.read_header_timeout`, and a failure is counted in
//! `gateway_tls_handshake_failures_total{listener,reason}` and logged at
//! debug level instead of as one `error!` line per failed client.

use super::metrics::TLS_METRICS;
use super::DownstreamTls;
use crate::edge::EdgeSettings;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::sync::Arc;

/// Reasons of `gateway_tls_handshake_failures_total`.
pub(super) mod reason {
    /// `client_auth` requires a certificate and the client sent none.
    pub(crate) const NO_CLIENT_CERT: &str = "no_client_cert";
    /// The client certificate is not signed by `client_auth.ca`.
    pub(crate) const UNKNOWN_CA: &str = "unknown_ca";
    /// The client certificate is expired or not yet valid.
    pub(crate) const CLIENT_CERT_EXPIRED: &str = "client_cert_expired";
    /// The client certificate is unusable otherwise (encoding, purpose,
    /// revoked, ...).
    pub(crate) const BAD_CLIENT_CERT: &str = "bad_client_cert";
    /// The client aborted with an alert, typically because it does not
    /// trust the certificate it was served.
    pub(crate) const CLIENT_ALERT: &str = "client_alert";
    /// No protocol version, cipher suite or signature scheme in common.
    pub(crate) const INCOMPATIBLE: &str = "incompatible";
    /// Not TLS, or TLS messages out of order.
    pub(crate) const PROTOCOL: &str = "protocol";
    /// The client closed the connection during the handshake.
    pub(crate) const CLOSED: &str = "closed";
    /// The handshake did not finish within `read_header_timeout`.
    pub(crate) const TIMEOUT: &str = "timeout";
    /// Anything else.
    pub(crate) const OTHER: &str = "other";
}

/// A server app behind TLS: the handshake first, then `inner` with the
/// decrypted stream.
pub(crate) struct TlsTerminated<A> {
    inner: Arc<A>,
    settings: Arc<dyn EdgeSettings>,
    /// The listeners as the process started: used for a listener that the
    /// current generation no longer configures (a reload that changed
    /// listeners takes effect only after a restart).
    startup: Arc<DownstreamTls>,
}

impl<A> TlsTerminated<A> {
    /// Wraps `inner` for the HTTPS listeners of the current generation.
    pub(crate) fn new(inner: A, settings: Arc<dyn EdgeSettings>) -> Self {
        let (startup, _) = settings.handshake();
        TlsTerminated {
            inner: Arc::new(inner),
            settings,
            startup,
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for TlsTerminated<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        if !stream.as_any().is::<L4Stream>() {
            // A kept-alive connection coming back: already decrypted.
            return self.inner.process_new(stream, shutdown).await;
        }
        let local = stream
            .get_socket_digest()
            .and_then(|d| d.local_addr().and_then(|a| a.as_inet()).copied());
        let (current, timeout) = self.settings.handshake();
        let Some(listener) =
            local.and_then(|addr| current.find(addr).or_else(|| self.startup.find(addr)))
        else {
            log::error!("no TLS settings for a connection to {local:?}; closing it");
            return None;
        };
        let l4 = match stream.into_any().downcast::<L4Stream>() {
            Ok(l4) => *l4,
            Err(_) => return None,
        };
        let reason = match tokio::time::timeout(timeout, listener.acceptor.tls_handshake(l4)).await
        {
            Ok(Ok(tls)) => {
                drop(current);
                return self.inner.process_new(Box::new(tls), shutdown).await;
            }
            Ok(Err(e)) => {
                log::debug!("TLS handshake on {} failed: {e}", listener.label);
                classify(&e)
            }
            Err(_) => reason::TIMEOUT,
        };
        TLS_METRICS
            .handshake_failures
            .with_label_values(&[listener.label.as_str(), reason])
            .inc();
        None
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

/// rustls's wording of each failure (its `Display`, rustls 0.23), in the
/// order checked. Pingora keeps only the text of a handshake error (its
/// context; the rustls error itself is dropped), so the text is all there
/// is to classify.
const REASON_TEXTS: &[(&str, &str)] = &[
    ("peer sent no certificates", reason::NO_CLIENT_CERT),
    (
        "invalid peer certificate: UnknownIssuer",
        reason::UNKNOWN_CA,
    ),
    (
        "invalid peer certificate: certificate expired",
        reason::CLIENT_CERT_EXPIRED,
    ),
    (
        "invalid peer certificate: Expired",
        reason::CLIENT_CERT_EXPIRED,
    ),
    (
        "invalid peer certificate: certificate not valid yet",
        reason::CLIENT_CERT_EXPIRED,
    ),
    (
        "invalid peer certificate: NotValidYet",
        reason::CLIENT_CERT_EXPIRED,
    ),
    ("invalid peer certificate", reason::BAD_CLIENT_CERT),
    ("received fatal alert", reason::CLIENT_ALERT),
    ("peer is incompatible", reason::INCOMPATIBLE),
    ("tls handshake eof", reason::CLOSED),
    ("Connection reset", reason::CLOSED),
    ("Broken pipe", reason::CLOSED),
    ("received corrupt message", reason::PROTOCOL),
    ("received unexpected", reason::PROTOCOL),
    ("peer misbehaved", reason::PROTOCOL),
];

/// The reason label of a failed handshake.
fn classify(e: &pingora::Error) -> &'static str {
    let text = e.to_string();
    REASON_TEXTS
        .iter()
        .find(|(needle, _)| text.contains(needle))
        .map_or(reason::OTHER, |(_, reason)| reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::tls::{CertificateError, RusTlsError};
    use pingora::ErrorType;

    /// A handshake error as Pingora builds it: the rustls error's text in
    /// the context.
    fn failed(text: impl std::fmt::Display) -> Box<pingora::Error> {
        pingora::Error::explain(
            ErrorType::TLSHandshakeFailure,
            format!("tls connect error: {text}"),
        )
    }

    #[test]
    fn failures_are_classified_by_what_the_verifier_and_peer_reported() {
        let cases = [
            (
                failed(RusTlsError::NoCertificatesPresented),
                reason::NO_CLIENT_CERT,
            ),
            (
                failed(RusTlsError::InvalidCertificate(
                    CertificateError::UnknownIssuer,
                )),
                reason::UNKNOWN_CA,
            ),
            (
                failed(RusTlsError::InvalidCertificate(CertificateError::Expired)),
                reason::CLIENT_CERT_EXPIRED,
            ),
            (
                failed(RusTlsError::InvalidCertificate(
                    CertificateError::NotValidYet,
                )),
                reason::CLIENT_CERT_EXPIRED,
            ),
            (
                failed(RusTlsError::InvalidCertificate(
                    CertificateError::BadEncoding,
                )),
                reason::BAD_CLIENT_CERT,
            ),
            (failed("tls handshake eof"), reason::CLOSED),
            (failed(RusTlsError::DecryptError), reason::OTHER),
        ];
        for (error, expected) in cases {
            assert_eq!(classify(&error), expected, "{error}");
        }
    }
}
