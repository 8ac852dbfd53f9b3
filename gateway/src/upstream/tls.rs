//! TLS toward upstream endpoints: reading a cluster's PEM files when the
//! config is compiled, and setting up the endpoint peers from them.
//!
//! Everything Pingora would reject or panic on when it connects (unparsable
//! DER, an unusable key, a key that does not match the certificate) is
//! refused here with the file and key path, so building a peer cannot fail.

use crate::config::{ClusterConfig, ConfigError, ConfigSource, TlsFiles, UpstreamProtocol};
use pingora::tls::{
    install_default_crypto_provider, version, CertificateDer, ClientConfig, PrivateKeyDer,
    RootCertStore, RusTlsError, ServerName,
};
use pingora::upstreams::peer::{HttpPeer, Scheme};
use pingora::utils::tls::{parse_x509, CertKey, WrappedX509};
use rustls_pemfile::Item;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

/// Reads the PEM files named by `cluster.tls` into `cluster.tls.files`.
/// Relative paths are resolved against the directory of `source`; errors
/// name the key path under `gateway.clusters.<name>.tls`.
pub(crate) fn load_files(
    name: &str,
    cluster: &mut ClusterConfig,
    source: &ConfigSource,
) -> Result<(), ConfigError> {
    let Some(tls) = cluster.tls.as_mut() else {
        return Ok(());
    };
    let file_name = source.display_name();
    let key_path = |key: &str| format!("gateway.clusters.{name}.tls.{key}");
    let fail = |key: &str, msg: String| ConfigError::at(&file_name, key_path(key), msg);
    let base = source.base_dir();

    if let Some(sni) = &tls.sni {
        if ServerName::try_from(sni.as_str()).is_err() {
            return Err(fail(
                "sni",
                format!(
                    "`{sni}` is not a valid server name; expected a host name or an IP address"
                ),
            ));
        }
    }
    let mut files = TlsFiles::default();
    if let Some(ca) = &tls.ca {
        files.ca = read_certs(&base.join(ca)).map_err(|m| fail("ca", m))?;
    }
    if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
        let cert_path = base.join(cert);
        let key_path = base.join(key);
        files.client_chain = read_certs(&cert_path).map_err(|m| fail("client_cert", m))?;
        files.client_key = read_key(&key_path).map_err(|m| fail("client_key", m))?;
        check_client_auth(&files).map_err(|e| {
            fail(
                "client_key",
                format!(
                    "`{}` cannot be used with `{}`: {e}",
                    key_path.display(),
                    cert_path.display()
                ),
            )
        })?;
    }
    tls.files = files;
    Ok(())
}

/// Makes `peer` speak TLS as `cluster.tls` says (a no-op without it), with
/// the files [`load_files`] read. The protocol (ALPN) is set by the caller.
pub(super) fn configure_peer(peer: &mut HttpPeer, addr: SocketAddr, cluster: &ClusterConfig) {
    let Some(tls) = &cluster.tls else {
        return;
    };
    peer.scheme = Scheme::HTTPS;
    peer.sni = tls.sni.clone().unwrap_or_else(|| addr.ip().to_string());
    peer.options.verify_cert = tls.verify;
    peer.options.verify_hostname = tls.verify_hostname;
    if tls.ca.is_some() {
        // Empty only if the files were never loaded: Pingora then refuses to
        // connect rather than falling back to the system roots.
        peer.options.ca = Some(wrap_certs(&tls.files.ca).unwrap_or_default().into());
    }
    if !tls.files.client_chain.is_empty() {
        peer.client_cert_key = Some(Arc::new(CertKey::new(
            tls.files.client_chain.clone(),
            tls.files.client_key.clone(),
        )));
    }
    // Pingora's connection reuse key ignores the per-peer CA and tells client
    // certificates apart by serial number only: keep connections made with
    // other TLS material (another cluster to the same address) apart.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    tls.files.hash(&mut hasher);
    (cluster.protocol == UpstreamProtocol::H2).hash(&mut hasher);
    peer.group_key = hasher.finish();
}

/// Logs a failed TLS handshake with an endpoint (an untrusted or
/// mismatched certificate, a refused client certificate): one line with the
/// cluster, endpoint, server name and reason. Other failures are not logged
/// here.
pub(crate) fn log_handshake_failure(
    cluster: &super::Cluster,
    endpoint: super::EndpointRef,
    peer: &HttpPeer,
    e: &pingora::Error,
) {
    use pingora::ErrorType::{InvalidCert, TLSHandshakeFailure};
    if matches!(e.etype(), TLSHandshakeFailure | InvalidCert) {
        log::warn!(
            "upstream TLS handshake failed: cluster={} endpoint={} sni={} reason={}",
            cluster.name,
            cluster.endpoint(endpoint).label,
            peer.sni,
            e.root_cause()
        );
    }
}

fn read_pem(path: &Path) -> Result<Vec<Item>, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    rustls_pemfile::read_all(&mut bytes.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`{}` is not valid PEM: {e}", path.display()))
}

/// The certificates in a PEM file, each accepted by both rustls and
/// Pingora's certificate parser.
pub(crate) fn read_certs(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let certs: Vec<Vec<u8>> = read_pem(path)?
        .into_iter()
        .filter_map(|item| match item {
            Item::X509Certificate(der) => Some(der.to_vec()),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(format!("no certificate found in `{}`", path.display()));
    }
    let bad = |i: usize, why: String| {
        format!(
            "certificate {} in `{}` is not valid: {why}",
            i + 1,
            path.display()
        )
    };
    let mut store = RootCertStore::empty();
    for (i, der) in certs.iter().enumerate() {
        store
            .add(CertificateDer::from(der.as_slice()))
            .map_err(|e| bad(i, describe(e)))?;
    }
    wrap_certs(&certs).map_err(|i| bad(i, "cannot be parsed".into()))?;
    Ok(certs)
}

pub(crate) fn read_key(path: &Path) -> Result<Vec<u8>, String> {
    read_pem(path)?
        .into_iter()
        .find_map(|item| match item {
            Item::Pkcs1Key(k) => Some(k.secret_pkcs1_der().to_vec()),
            Item::Pkcs8Key(k) => Some(k.secret_pkcs8_der().to_vec()),
            Item::Sec1Key(k) => Some(k.secret_sec1_der().to_vec()),
            _ => None,
        })
        .ok_or_else(|| {
            format!(
                "no private key found in `{}` (expected an unencrypted PKCS#8, RSA or EC key)",
                path.display()
            )
        })
}

/// A rustls error without the "invalid peer certificate" framing, which
/// would be misleading for a local file.
pub(crate) fn describe(e: RusTlsError) -> String {
    match e {
        RusTlsError::InvalidCertificate(e) => e.to_string(),
        e => e.to_string(),
    }
}

/// Builds the client side exactly as Pingora will when it connects: the key
/// format is detected from the DER, loaded, and matched to the leaf.
fn check_client_auth(files: &TlsFiles) -> Result<(), String> {
    let key = PrivateKeyDer::try_from(files.client_key.clone()).map_err(str::to_string)?;
    let chain = files
        .client_chain
        .iter()
        .map(|der| CertificateDer::from(der.clone()))
        .collect();
    install_default_crypto_provider();
    ClientConfig::builder_with_protocol_versions(&[&version::TLS12, &version::TLS13])
        .with_root_certificates(RootCertStore::empty())
        .with_client_auth_cert(chain, key)
        .map(drop)
        .map_err(describe)
}

/// Pingora's certificate wrappers, or the index of the first certificate its
/// parser rejects (its constructors panic on those; rustls accepted them
/// already, so this is a last guard).
fn wrap_certs(ders: &[Vec<u8>]) -> Result<Vec<WrappedX509>, usize> {
    ders.iter()
        .enumerate()
        .map(|(i, der)| {
            catch_unwind(AssertUnwindSafe(|| {
                WrappedX509::new(der.clone(), parse_x509)
            }))
            .map_err(|_| i)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::upstreams::peer::Peer;

    fn peer_for(addr: &str, yaml: &str) -> HttpPeer {
        let cluster: ClusterConfig = serde_yaml::from_str(yaml).unwrap();
        let addr: SocketAddr = addr.parse().unwrap();
        let mut peer = HttpPeer::new(addr, false, String::new());
        configure_peer(&mut peer, addr, &cluster);
        peer
    }

    #[test]
    fn peers_default_to_the_ip_as_server_name_and_full_verification() {
        let peer = peer_for("[::1]:8443", "{ endpoints: [], tls: {} }");
        assert!(peer.is_tls());
        assert_eq!(peer.sni(), "::1");
        assert!(peer.verify_cert() && peer.verify_hostname());
        assert!(peer.get_ca().is_none() && peer.client_cert_key.is_none());

        let relaxed = peer_for(
            "127.0.0.1:8443",
            "{ endpoints: [], tls: { sni: api.internal, verify: false, verify_hostname: false } }",
        );
        assert_eq!(relaxed.sni(), "api.internal");
        assert!(!relaxed.verify_cert() && !relaxed.verify_hostname());

        let plain = peer_for("127.0.0.1:8080", "{ endpoints: [] }");
        assert!(!plain.is_tls());
        assert_eq!(plain.group_key, 0);
    }

    #[test]
    fn a_ca_whose_files_were_not_loaded_trusts_nothing() {
        let peer = peer_for("127.0.0.1:8443", "{ endpoints: [], tls: { ca: ca.pem } }");
        assert_eq!(peer.get_ca().map(|ca| ca.len()), Some(0));
    }
}
