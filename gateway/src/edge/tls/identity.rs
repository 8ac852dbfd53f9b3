//! The client certificate's identity (CN and SANs), read once per
//! connection when the handshake completes and carried to every request on
//! it through Pingora's `SslDigest.extension`.

use async_trait::async_trait;
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;
use pingora::proxy::Session;
use std::any::Any;
use std::sync::Arc;
use x509_parser::extensions::GeneralName;

/// Names from a verified client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Subject common name (the first, when there are several).
    pub cn: Option<String>,
    /// DNS, URI and email subject alternative names.
    pub sans: Vec<String>,
}

impl ClientIdentity {
    /// The names in a DER certificate; `None` when it cannot be parsed.
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let cn = cert
            .subject()
            .iter_common_name()
            .find_map(|a| a.as_str().ok())
            .map(str::to_string);
        let sans = match cert.subject_alternative_name() {
            Ok(Some(ext)) => ext
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(s) | GeneralName::URI(s) | GeneralName::RFC822Name(s) => {
                        Some(s.to_string())
                    }
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(ClientIdentity { cn, sans })
    }
}

/// The connection's client identity, if the client presented a
/// certificate (which the listener's verifier accepted).
pub(crate) fn from_session(session: &Session) -> Option<Arc<ClientIdentity>> {
    session
        .digest()?
        .ssl_digest
        .as_ref()?
        .extension
        .get::<Arc<ClientIdentity>>()
        .cloned()
}

/// Stores the client identity in the connection's TLS digest. Under rustls
/// Pingora calls only this hook (never `certificate_callback`).
pub(super) struct IdentityCallback;

#[async_trait]
impl TlsAccept for IdentityCallback {
    async fn handshake_complete_callback(
        &self,
        tls: &TlsRef,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        let identity = ClientIdentity::from_der(tls.peer_certificate_der()?)?;
        Some(Arc::new(Arc::new(identity)))
    }
}
