//! `mtls`: TLS that requires a client certificate signed by the test CA.

use super::http::dispatch;
use super::{Behaviour, MockContext, MockResponse};
use crate::certs::TestCerts;
use async_trait::async_trait;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// Response header carrying the common name of the client certificate.
pub const CLIENT_CN_HEADER: &str = "x-client-cn";

/// Serves HTTP over TLS to clients presenting a certificate signed by the
/// test CA, and answers like `inner` plus `x-client-cn: <client CN>`. HTTP/2
/// when the client offers `h2` by ALPN, HTTP/1.1 otherwise. A failed
/// handshake closes the connection.
pub struct Mtls {
    /// How requests are answered.
    pub inner: Arc<dyn Behaviour>,
    /// TLS settings, including the client certificate verifier.
    pub server_config: Arc<ServerConfig>,
}

/// The client certificate's common name, attached to each request.
#[derive(Clone)]
struct ClientCn(String);

impl Mtls {
    /// Serves the test server certificate and requires a client certificate
    /// signed by the test CA.
    pub fn new(certs: &TestCerts, inner: Arc<dyn Behaviour>) -> Self {
        let server_config = Self::server_config(certs)
            .unwrap_or_else(|e| panic!("building the mTLS server config: {e}"));
        Mtls {
            inner,
            server_config,
        }
    }

    /// The rustls config [`Mtls::new`] uses: the server certificate from
    /// `certs`, HTTP/2 or HTTP/1.1 by ALPN, client certificates verified
    /// against the test CA.
    pub fn server_config(
        certs: &TestCerts,
    ) -> Result<Arc<ServerConfig>, tokio_rustls::rustls::Error> {
        let provider = Arc::new(ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(certs.ca_der())?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| tokio_rustls::rustls::Error::General(e.to_string()))?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs.server_chain(), certs.server_key_der())?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

#[async_trait]
impl Behaviour for Mtls {
    async fn respond(&self, req: Request<Incoming>, ctx: &MockContext) -> MockResponse {
        let cn = req.extensions().get::<ClientCn>().cloned();
        let mut resp = self.inner.respond(req, ctx).await;
        if let Some(v) = cn.and_then(|cn| http::HeaderValue::from_str(&cn.0).ok()) {
            resp.headers_mut().insert(CLIENT_CN_HEADER, v);
        }
        resp
    }

    async fn serve(self: Arc<Self>, stream: TcpStream, ctx: Arc<MockContext>) {
        let acceptor = TlsAcceptor::from(self.server_config.clone());
        let Ok(tls) = acceptor.accept(stream).await else {
            return;
        };
        let cn = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| common_name(leaf))
            .unwrap_or_default();
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let service = service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ClientCn(cn.clone()));
            dispatch(ctx.clone(), req)
        });
        let io = TokioIo::new(tls);
        let _ = if h2 {
            hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(io, service)
                .await
        } else {
            hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
        };
    }
}

/// One DER TLV: tag, contents, and what follows.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The subject common name of a DER certificate.
fn common_name(cert: &[u8]) -> Option<String> {
    const VERSION_TAG: u8 = 0xa0;
    const CN_OID: [u8; 3] = [0x55, 0x04, 0x03];
    let (_, cert, _) = tlv(cert)?;
    let (_, mut tbs, _) = tlv(cert)?;
    if tbs.first() == Some(&VERSION_TAG) {
        tbs = tlv(tbs)?.2;
    }
    // serialNumber, signature, issuer, validity
    for _ in 0..4 {
        tbs = tlv(tbs)?.2;
    }
    let (_, mut subject, _) = tlv(tbs)?;
    while !subject.is_empty() {
        let (_, mut rdn, rest) = tlv(subject)?;
        subject = rest;
        while !rdn.is_empty() {
            let (_, attribute, rest) = tlv(rdn)?;
            rdn = rest;
            let (_, oid, value) = tlv(attribute)?;
            if oid == CN_OID {
                let (_, text, _) = tlv(value)?;
                return String::from_utf8(text.to_vec()).ok();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::CLIENT_CN;
    use crate::upstream::{Fixed, MockUpstream};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::ServerName;
    use tokio_rustls::rustls::ClientConfig;
    use tokio_rustls::TlsConnector;

    #[test]
    fn reads_the_common_name() {
        let dir = tempfile::tempdir().unwrap();
        let certs = TestCerts::generate(dir.path()).unwrap();
        assert_eq!(
            common_name(&certs.client_chain()[0]).as_deref(),
            Some(CLIENT_CN)
        );
        assert_eq!(
            common_name(&certs.server_chain()[0]).as_deref(),
            Some("localhost")
        );
        assert_eq!(common_name(b"\x30\x03\x02\x01"), None);
    }

    async fn get(certs: &TestCerts, addr: std::net::SocketAddr, with_cert: bool) -> String {
        let provider = Arc::new(ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(certs.ca_der()).unwrap();
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = if with_cert {
            builder
                .with_client_auth_cert(certs.client_chain(), certs.client_key_der())
                .unwrap()
        } else {
            builder.with_no_client_auth()
        };
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let Ok(mut tls) = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
        else {
            return String::new();
        };
        let request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        if tls.write_all(request).await.is_err() {
            return String::new();
        }
        let mut out = Vec::new();
        let _ = tls.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn requires_a_client_certificate_and_reports_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let certs = TestCerts::generate(dir.path()).unwrap();
        let mock = MockUpstream::start("m", Mtls::new(&certs, Arc::new(Fixed::ok("hi"))))
            .await
            .unwrap();
        let answer = get(&certs, mock.addr(), true).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.contains(&format!("{CLIENT_CN_HEADER}: {CLIENT_CN}")),
            "{answer}"
        );
        let answer = get(&certs, mock.addr(), false).await;
        assert!(answer.is_empty(), "{answer}");
        assert_eq!(mock.hits(), 1);
    }
}
