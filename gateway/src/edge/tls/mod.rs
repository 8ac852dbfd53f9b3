//! HTTPS listeners (`gateway.listeners[].tls`, see docs/TLS.md).
//!
//! Each generation compiles every TLS listener into a rustls acceptor: the
//! certificates (checked against their keys), the SNI choice
//! ([`certs::SniCerts`]: exact name, then wildcard, then default), the
//! client-certificate verifier of `client_auth` and ALPN (`h2` and
//! `http/1.1` with `h2: true`). [`TlsTerminated`] runs the handshake with
//! the acceptor of the generation current when the connection arrives, so
//! a reload swaps certificates without a restart and a rejected reload
//! leaves the old ones serving.
//!
//! Under rustls Pingora never calls `TlsAccept::certificate_callback`; the
//! certificate is chosen by the resolver, and the client identity is read
//! in `handshake_complete_callback` ([`identity`]) and reaches requests
//! through `SslDigest.extension`.

mod accept;
mod certs;
mod identity;
mod metrics;
mod route;

pub(crate) use accept::TlsTerminated;
pub(crate) use identity::{from_session as client_identity, ClientIdentity};
pub(crate) use metrics::TLS_METRICS;
pub(crate) use route::RouteTls;

use crate::config::{ClientAuthMode, ConfigError, ConfigSource, ListenerConfig, ListenerTlsConfig};
use certs::SniCerts;
use pingora::listeners::tls::{Acceptor, TlsSettings};
use pingora::listeners::ALPN;
use pingora::tls::{CertificateDer, RootCertStore, WebPkiClientVerifier};
use std::net::SocketAddr;
use std::sync::Arc;

/// The `host` label of a listener's default certificate.
pub(crate) const DEFAULT_HOST_LABEL: &str = "default";

/// One HTTPS listener, compiled.
pub struct ListenerTls {
    /// The configured address: the `listener` label of TLS metrics.
    pub label: String,
    address: SocketAddr,
    acceptor: Acceptor,
    /// (`host` label, `notAfter` in Unix seconds) per served certificate.
    expiry: Vec<(String, i64)>,
}

/// The HTTPS listeners of one generation.
#[derive(Default)]
pub struct DownstreamTls {
    listeners: Vec<ListenerTls>,
}

impl DownstreamTls {
    /// Reads and checks every TLS listener's files. Errors name the file
    /// and the key path (`gateway.listeners[0].tls.certificates[1].key`).
    pub fn build(listeners: &[ListenerConfig], source: &ConfigSource) -> Result<Self, ConfigError> {
        let mut built = Vec::new();
        for (i, listener) in listeners.iter().enumerate() {
            if let Some(tls) = &listener.tls {
                let path = format!("gateway.listeners[{i}].tls");
                built.push(build_listener(listener, tls, &path, source)?);
            }
        }
        Ok(DownstreamTls { listeners: built })
    }

    /// Whether there is any HTTPS listener.
    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
    }

    /// The listener a connection arrived on, by its local address: the
    /// exact address, else a listener on the unspecified address
    /// (`0.0.0.0`, `[::]`) with the same port.
    pub fn find(&self, local: SocketAddr) -> Option<&ListenerTls> {
        crate::edge::listener_match::find_listener(&self.listeners, local, |l| l.address)
    }

    /// Publishes `gateway_tls_certificate_expiry_seconds` for exactly the
    /// certificates this generation serves.
    pub fn activate(&self) {
        let gauge = &TLS_METRICS.certificate_expiry;
        gauge.reset();
        for listener in &self.listeners {
            for (host, not_after) in &listener.expiry {
                gauge
                    .with_label_values(&[listener.label.as_str(), host.as_str()])
                    .set(*not_after);
            }
        }
    }
}

/// Whether two listener lists bind the same sockets with the same
/// protocols. TLS settings (certificates, `h2`, `client_auth`) are left out:
/// they apply on reload, as every connection takes them from the current
/// generation; only turning TLS on or off needs a restart.
pub(crate) fn same_sockets(old: &[ListenerConfig], new: &[ListenerConfig]) -> bool {
    let sockets = |ls: &[ListenerConfig]| -> Vec<(SocketAddr, bool, bool, bool)> {
        ls.iter()
            .map(|l| (l.address.0, l.h2c, l.tls.is_some(), l.proxy_protocol))
            .collect()
    };
    sockets(old) == sockets(new)
}

fn build_listener(
    listener: &ListenerConfig,
    tls: &ListenerTlsConfig,
    path: &str,
    source: &ConfigSource,
) -> Result<ListenerTls, ConfigError> {
    let file = source.display_name();
    let base = source.base_dir();
    let fail = |at: String| {
        let file = file.clone();
        move |(key, message): (&str, String)| ConfigError::at(&file, format!("{at}.{key}"), message)
    };
    let default = certs::load(&base, &tls.cert, &tls.key).map_err(fail(path.to_string()))?;
    let mut expiry = vec![(DEFAULT_HOST_LABEL.to_string(), default.not_after)];
    let mut sni = SniCerts::new(default.key);
    for (j, entry) in tls.certificates.iter().enumerate() {
        let at = format!("{path}.certificates[{j}]");
        let loaded = certs::load(&base, &entry.cert, &entry.key).map_err(fail(at))?;
        for host in &entry.hosts {
            sni.add(host, loaded.key.clone());
            expiry.push((host.to_ascii_lowercase(), loaded.not_after));
        }
    }
    let internal = |e: pingora::BError| ConfigError::at(&file, path, e.to_string());
    let mut settings = match &tls.client_auth {
        Some(auth) => {
            let at = format!("{path}.client_auth.ca");
            let ca = auth.ca.as_deref().unwrap_or_default();
            let cas = crate::upstream::tls::read_certs(&base.join(ca))
                .map_err(|m| ConfigError::at(&file, &at, m))?;
            let mut roots = RootCertStore::empty();
            for der in cas {
                roots
                    .add(CertificateDer::from(der))
                    .map_err(|e| ConfigError::at(&file, &at, e.to_string()))?;
            }
            let mut verifier = WebPkiClientVerifier::builder(Arc::new(roots));
            if auth.mode == ClientAuthMode::Optional {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier
                .build()
                .map_err(|e| ConfigError::at(&file, &at, e.to_string()))?;
            let mut settings = TlsSettings::with_callbacks(Box::new(identity::IdentityCallback))
                .map_err(internal)?;
            settings.set_client_cert_verifier(verifier);
            settings
        }
        None => TlsSettings::intermediate("", "").map_err(internal)?,
    };
    settings.set_cert_resolver(Arc::new(sni));
    settings.set_alpn(if tls.h2 { ALPN::H2H1 } else { ALPN::H1 });
    Ok(ListenerTls {
        label: listener.address.to_string(),
        address: listener.address.0,
        acceptor: settings.build(),
        expiry,
    })
}
