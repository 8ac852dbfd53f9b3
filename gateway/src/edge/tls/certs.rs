//! Server certificates of an HTTPS listener: read and checked when the
//! config is compiled, chosen by the client's server name (SNI) during the
//! handshake.

use crate::upstream::tls::{describe, read_certs, read_key};
use pingora::tls::sign::CertifiedKey;
use pingora::tls::{
    install_default_crypto_provider, CertificateDer, ClientHello, CryptoProvider, PrivateKeyDer,
    ResolvesServerCert, RusTlsError,
};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// A certificate chain with its key, ready to serve.
#[derive(Clone)]
pub(super) struct ServerCert {
    /// Chain and signing key.
    pub key: Arc<CertifiedKey>,
    /// The leaf's `notAfter`, in Unix seconds.
    pub not_after: i64,
}

/// Reads `cert` and `key` (relative to `base`) and checks that they belong
/// together. Errors are (`cert` or `key`, message).
pub(super) fn load(
    base: &Path,
    cert: &str,
    key: &str,
) -> Result<ServerCert, (&'static str, String)> {
    let cert_path = base.join(cert);
    let key_path = base.join(key);
    let chain = read_certs(&cert_path).map_err(|m| ("cert", m))?;
    let key_der = read_key(&key_path).map_err(|m| ("key", m))?;
    let not_after = x509_parser::parse_x509_certificate(&chain[0])
        .map(|(_, leaf)| leaf.validity().not_after.timestamp())
        .map_err(|e| {
            (
                "cert",
                format!("cannot read the certificate `{}`: {e}", cert_path.display()),
            )
        })?;
    let key_der = PrivateKeyDer::try_from(key_der).map_err(|e| ("key", e.to_string()))?;
    let chain = chain.into_iter().map(CertificateDer::from).collect();
    install_default_crypto_provider();
    let provider = CryptoProvider::get_default()
        .ok_or_else(|| ("key", "no TLS crypto provider is installed".to_string()))?;
    let certified = CertifiedKey::from_der(chain, key_der, provider).map_err(|e| {
        let why = match e {
            RusTlsError::InconsistentKeys(_) => {
                "the key does not belong to the certificate (public keys differ)".to_string()
            }
            e => describe(e),
        };
        (
            "key",
            format!(
                "`{}` cannot be used with the certificate `{}`: {why}; expected the private key of its leaf certificate",
                key_path.display(),
                cert_path.display(),
            ),
        )
    })?;
    Ok(ServerCert {
        key: Arc::new(certified),
        not_after,
    })
}

/// Certificate choice by server name: an exact name, then a one-label
/// wildcard (`*.example.org` covers `a.example.org`, not `a.b.example.org`
/// nor `example.org`), then the listener's default certificate, which also
/// serves clients that send no server name.
#[derive(Debug)]
pub(super) struct SniCerts<K = Arc<CertifiedKey>> {
    default: K,
    exact: HashMap<String, K>,
    /// Keyed by the suffix after `*` (`.example.org`).
    wildcard: HashMap<String, K>,
}

impl<K> SniCerts<K> {
    /// Serves `default` for every name until [`SniCerts::add`] adds others.
    pub(super) fn new(default: K) -> Self {
        SniCerts {
            default,
            exact: HashMap::new(),
            wildcard: HashMap::new(),
        }
    }

    /// Serves `key` for `host` (`api.example.com` or `*.example.org`).
    pub(super) fn add(&mut self, host: &str, key: K) {
        let host = host.to_ascii_lowercase();
        match host.strip_prefix('*') {
            Some(suffix) => self.wildcard.insert(suffix.to_string(), key),
            None => self.exact.insert(host, key),
        };
    }

    /// The certificate for a client's server name.
    pub(super) fn choose(&self, server_name: Option<&str>) -> &K {
        let Some(name) = server_name else {
            return &self.default;
        };
        let name: Cow<str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        };
        if let Some(key) = self.exact.get(name.as_ref()) {
            return key;
        }
        name.find('.')
            .and_then(|dot| self.wildcard.get(&name[dot..]))
            .unwrap_or(&self.default)
    }
}

impl ResolvesServerCert for SniCerts {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.choose(hello.server_name()).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_beat_wildcards_which_beat_the_default() {
        let mut certs = SniCerts::new(0);
        certs.add("a.example.test", 1);
        certs.add("*.example.org", 2);
        certs.add("API.example.org", 3);
        let chosen = |name: Option<&str>| *certs.choose(name);
        assert_eq!(chosen(Some("a.example.test")), 1);
        assert_eq!(chosen(Some("A.Example.Test")), 1);
        assert_eq!(chosen(Some("x.example.org")), 2);
        assert_eq!(chosen(Some("api.example.org")), 3);
        assert_eq!(chosen(Some("a.b.example.org")), 0, "one label only");
        assert_eq!(chosen(Some("example.org")), 0);
        assert_eq!(chosen(Some("b.example.test")), 0);
        assert_eq!(chosen(None), 0);
    }
}
