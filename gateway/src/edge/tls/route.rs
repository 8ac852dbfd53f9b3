//! A route's TLS keys, compiled: which client certificates it accepts
//! (`client_cert`), the header that carries the CN upstream
//! (`client_cert_header`) and the server name sent to a TLS upstream
//! (`upstream_sni`).

use super::identity::ClientIdentity;
use crate::config::{ClientCertMatch, RouteConfig};
use http::HeaderName;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

/// The server name a route sends to TLS upstreams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum UpstreamSni {
    /// This name.
    Name(String),
    /// The request's host, without its port.
    FromHost,
}

/// Compiled `client_cert`, `client_cert_header` and `upstream_sni`.
#[derive(Debug, Clone, Default)]
pub struct RouteTls {
    client_cert: Option<ClientCertMatch>,
    cn_header: Option<HeaderName>,
    sni: Option<UpstreamSni>,
}

impl RouteTls {
    /// From a validated route.
    pub fn new(route: &RouteConfig) -> Self {
        RouteTls {
            client_cert: route.client_cert.clone(),
            cn_header: route
                .client_cert_header
                .as_deref()
                .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
            sni: route.upstream_sni.as_deref().map(|s| {
                if s == crate::config::tls::SNI_FROM_HOST {
                    UpstreamSni::FromHost
                } else {
                    UpstreamSni::Name(s.to_ascii_lowercase())
                }
            }),
        }
    }

    /// The status refusing a request on this route: 401 without a client
    /// certificate, 403 when neither its CN nor a SAN is accepted.
    pub fn refusal(&self, client: Option<&ClientIdentity>) -> Option<u16> {
        let rule = self.client_cert.as_ref()?;
        let Some(client) = client else {
            return Some(401);
        };
        let cn_ok = client.cn.as_ref().is_some_and(|cn| rule.cn.contains(cn));
        let san_ok = client.sans.iter().any(|s| rule.san.contains(s));
        (!cn_ok && !san_ok).then_some(403)
    }

    /// Replaces any client-sent CN header with the certificate's CN (or
    /// just removes it when there is none).
    pub fn forward_cn(
        &self,
        upstream_request: &mut RequestHeader,
        client: Option<&ClientIdentity>,
    ) -> Result<()> {
        let Some(name) = &self.cn_header else {
            return Ok(());
        };
        upstream_request.remove_header(name);
        if let Some(cn) = client.and_then(|c| c.cn.as_deref()) {
            upstream_request.insert_header(name.clone(), cn)?;
        }
        Ok(())
    }

    /// Sets the server name of a TLS peer (verification unchanged: it checks
    /// the upstream certificate against this name). A host that is not a
    /// valid server name is refused with 400.
    pub fn apply_sni(&self, peer: &mut HttpPeer, request: &RequestHeader) -> Result<()> {
        match &self.sni {
            None => {}
            Some(UpstreamSni::Name(name)) => peer.sni.clone_from(name),
            Some(UpstreamSni::FromHost) => {
                let host = crate::hygiene::request_target::strip_port(
                    crate::hygiene::request_target::host(request),
                );
                if pingora::tls::ServerName::try_from(host).is_err() {
                    return Error::e_explain(
                        ErrorType::HTTPStatus(400),
                        format!("upstream_sni from_host: `{host}` is not a server name"),
                    );
                }
                peer.sni = host.to_ascii_lowercase();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(yaml: &str) -> RouteTls {
        RouteTls::new(&serde_yaml::from_str(yaml).unwrap())
    }

    fn client(cn: &str, sans: &[&str]) -> ClientIdentity {
        ClientIdentity {
            cn: Some(cn.into()),
            sans: sans.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn client_cert_rules_answer_401_without_and_403_for_unlisted_certificates() {
        let r = route("{ cluster: c, client_cert: { cn: [ops-1], san: [ops.example.test] } }");
        assert_eq!(r.refusal(None), Some(401));
        assert_eq!(r.refusal(Some(&client("ops-1", &[]))), None);
        assert_eq!(r.refusal(Some(&client("x", &["ops.example.test"]))), None);
        assert_eq!(r.refusal(Some(&client("ops-2", &["a.test"]))), Some(403));
        let open = route("{ cluster: c }");
        assert_eq!(open.refusal(None), None);
    }

    #[test]
    fn the_cn_header_replaces_client_sent_values() {
        let r = route("{ cluster: c, client_cert_header: X-Client-CN }");
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.append_header("x-client-cn", "forged").unwrap();
        req.append_header("x-client-cn", "forged-again").unwrap();
        r.forward_cn(&mut req, None).unwrap();
        assert!(req.headers.get("x-client-cn").is_none());
        req.append_header("x-client-cn", "forged").unwrap();
        r.forward_cn(&mut req, Some(&client("gateway-client", &[])))
            .unwrap();
        let values: Vec<_> = req.headers.get_all("x-client-cn").iter().collect();
        assert_eq!(values, ["gateway-client"]);
    }

    #[test]
    fn upstream_sni_is_a_name_or_the_request_host_without_port() {
        let mut peer = HttpPeer::new("127.0.0.1:443", true, "cluster.sni".into());
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header("host", "Api.Example.Test:8443").unwrap();
        route("{ cluster: c }").apply_sni(&mut peer, &req).unwrap();
        assert_eq!(peer.sni, "cluster.sni");
        route("{ cluster: c, upstream_sni: b.internal }")
            .apply_sni(&mut peer, &req)
            .unwrap();
        assert_eq!(peer.sni, "b.internal");
        let from_host = route("{ cluster: c, upstream_sni: from_host }");
        from_host.apply_sni(&mut peer, &req).unwrap();
        assert_eq!(peer.sni, "api.example.test");
        req.insert_header("host", "bad host").unwrap();
        let e = from_host.apply_sni(&mut peer, &req).unwrap_err();
        assert_eq!(*e.etype(), ErrorType::HTTPStatus(400));
    }
}
