//! Client identity and every `X-Forwarded-*` header the upstream gets.
//!
//! The client is the socket peer (on `proxy_protocol` listeners the PROXY
//! header's source, which `crate::edge` records as the peer). When the peer is in
//! `gateway.trusted_proxies`, `X-Forwarded-For` is walked from the right
//! (the entry the nearest proxy appended first) over trusted hops; the
//! first untrusted entry is the client. A malformed entry stops the walk
//! and the last trusted hop is the client (nothing left of a malformed
//! entry can be believed). When every entry is trusted, the left-most one
//! is the client.
//!
//! Toward the upstream: from an untrusted peer, `X-Forwarded-For`,
//! `X-Forwarded-Proto` and `X-Forwarded-Host` are replaced by the gateway's
//! own values (peer address, `https` when the client connection is TLS,
//! request host); from a trusted peer the peer address is appended to
//! `X-Forwarded-For` and the other two are kept (set when absent).

use crate::admission::ip_rules::IpRules;
use crate::admission::netlist::NetList;
use crate::config::ConfigError;
use bytes::Bytes;
use http::header::HOST;
use http::{HeaderMap, HeaderValue};
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::io::Write;
use std::net::IpAddr;

const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
const X_FORWARDED_HOST: &str = "x-forwarded-host";

/// Longest textual IP address (an IPv6 address with an embedded IPv4 one).
const MAX_IP_TEXT: usize = 45;

/// `gateway.trusted_proxies` and `gateway.ip`, compiled per generation.
#[derive(Debug, Clone, Default)]
pub struct ClientPolicy {
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: NetList,
    /// Networks admitted or refused on every route.
    pub ip: Option<IpRules>,
}

impl ClientPolicy {
    /// Compiles the two keys; errors name `file` and the key path.
    pub fn new(gw: &crate::config::GatewayConfig, file: &str) -> Result<Self, ConfigError> {
        let trusted_proxies = NetList::parse(&gw.trusted_proxies)
            .map_err(|(i, m)| ConfigError::at(file, format!("gateway.trusted_proxies[{i}]"), m))?;
        let ip = match &gw.ip {
            Some(cfg) => Some(
                IpRules::new(cfg)
                    .map_err(|(k, m)| ConfigError::at(file, format!("gateway.ip.{k}"), m))?,
            ),
            None => None,
        };
        Ok(ClientPolicy {
            trusted_proxies,
            ip,
        })
    }

    /// Whether the global IP rules let `client` in.
    pub fn admits(&self, client: Option<IpAddr>) -> bool {
        self.ip.as_ref().is_none_or(|r| r.admits(client))
    }

    /// The status refusing `client` (403) when the global IP rules keep
    /// it out.
    pub fn refusal(&self, client: Option<IpAddr>) -> Option<u16> {
        (!self.admits(client)).then_some(403)
    }
}

/// What the gateway knows about the client connection of a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientConn {
    /// The socket peer's address (canonical: IPv4-mapped IPv6 as IPv4).
    pub peer: Option<IpAddr>,
    /// Whether the peer is a trusted proxy.
    pub peer_trusted: bool,
    /// Whether the client connection is TLS.
    pub tls: bool,
}

impl ClientConn {
    /// Reads the connection facts of `session`.
    pub fn of(session: &Session, policy: &ClientPolicy) -> Self {
        let peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_canonical());
        let tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        ClientConn {
            peer,
            peer_trusted: peer.is_some_and(|ip| policy.trusted_proxies.contains(ip)),
            tls,
        }
    }

    /// Reads the connection facts of `session` and the client's address
    /// behind them (see [`ClientConn::client_ip`]).
    pub fn identify(session: &Session, policy: &ClientPolicy) -> (Self, Option<IpAddr>) {
        let conn = Self::of(session, policy);
        let ip = conn.client_ip(&session.req_header().headers, &policy.trusted_proxies);
        (conn, ip)
    }

    /// The client's address: the peer, or behind trusted proxies the
    /// right-most untrusted `X-Forwarded-For` entry (see the module docs).
    pub fn client_ip(&self, headers: &HeaderMap, trusted: &NetList) -> Option<IpAddr> {
        let peer = self.peer?;
        if !self.peer_trusted {
            return Some(peer);
        }
        let mut client = peer;
        for line in headers.get_all(X_FORWARDED_FOR).iter().rev() {
            let Ok(line) = line.to_str() else {
                return Some(client);
            };
            for entry in line.rsplit(',') {
                let Ok(ip) = entry.trim().parse::<IpAddr>() else {
                    return Some(client);
                };
                client = ip.to_canonical();
                if !trusted.contains(client) {
                    return Some(client);
                }
            }
        }
        Some(client)
    }

    /// Sets `X-Forwarded-For`, `-Proto` and `-Host` on the upstream request.
    pub fn forward_headers(&self, req: &mut RequestHeader) -> pingora::Result<()> {
        let proto = HeaderValue::from_static(if self.tls { "https" } else { "http" });
        let host = req.headers.get(HOST).cloned().or_else(|| {
            req.uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        if !self.peer_trusted {
            match self.peer {
                Some(peer) => {
                    let mut buf = [0u8; MAX_IP_TEXT];
                    let len = write_ip(&mut buf, peer);
                    let value = HeaderValue::from_bytes(&buf[..len])
                        .map_err(|_| internal("client address is no header value"))?;
                    req.insert_header(X_FORWARDED_FOR, value)?;
                }
                None => {
                    req.remove_header(X_FORWARDED_FOR);
                }
            }
            req.insert_header(X_FORWARDED_PROTO, proto)?;
            match host {
                Some(host) => req.insert_header(X_FORWARDED_HOST, host)?,
                None => {
                    req.remove_header(X_FORWARDED_HOST);
                }
            }
            return Ok(());
        }
        if let Some(peer) = self.peer {
            let prior = req.headers.get_all(X_FORWARDED_FOR);
            let prior_len: usize = prior.iter().map(|v| v.len() + 2).sum();
            let mut value = Vec::with_capacity(prior_len + MAX_IP_TEXT);
            for line in prior {
                value.extend_from_slice(line.as_bytes());
                value.extend_from_slice(b", ");
            }
            let mut buf = [0u8; MAX_IP_TEXT];
            let len = write_ip(&mut buf, peer);
            value.extend_from_slice(&buf[..len]);
            let value = HeaderValue::from_maybe_shared(Bytes::from(value))
                .map_err(|_| internal("X-Forwarded-For is no header value"))?;
            req.insert_header(X_FORWARDED_FOR, value)?;
        }
        if !req.headers.contains_key(X_FORWARDED_PROTO) {
            req.insert_header(X_FORWARDED_PROTO, proto)?;
        }
        if let (false, Some(host)) = (req.headers.contains_key(X_FORWARDED_HOST), host) {
            req.insert_header(X_FORWARDED_HOST, host)?;
        }
        Ok(())
    }
}

/// Writes `ip` as text into `buf`, returning the length.
fn write_ip(buf: &mut [u8; MAX_IP_TEXT], ip: IpAddr) -> usize {
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    // 45 bytes hold every address's text, so the write cannot fail.
    let _ = write!(cursor, "{ip}");
    usize::try_from(cursor.position()).unwrap_or(0)
}

fn internal(msg: &'static str) -> Box<pingora::Error> {
    pingora::Error::explain(pingora::ErrorType::InternalError, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(nets: &[&str]) -> NetList {
        NetList::parse(&nets.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn conn(peer: &str, list: &NetList) -> ClientConn {
        let peer: IpAddr = peer.parse().unwrap();
        ClientConn {
            peer: Some(peer),
            peer_trusted: list.contains(peer),
            tls: false,
        }
    }

    fn xff(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(X_FORWARDED_FOR, HeaderValue::from_str(l).unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_forwards() {
        let list = trusted(&["10.0.0.0/8"]);
        let c = conn("192.0.2.1", &list);
        assert_eq!(c.client_ip(&xff(&["1.2.3.4"]), &list), ip("192.0.2.1"));
    }

    #[test]
    fn trusted_hops_are_skipped_from_the_right() {
        let list = trusted(&["10.0.0.0/8", "2001:db8::/32"]);
        let c = conn("10.0.0.1", &list);
        let h = xff(&["203.0.113.9, 198.51.100.2, 10.1.1.1", "2001:db8::5"]);
        assert_eq!(c.client_ip(&h, &list), ip("198.51.100.2"));
        assert_eq!(c.client_ip(&xff(&[]), &list), ip("10.0.0.1"));
        let all_trusted = xff(&["10.3.3.3, 10.2.2.2"]);
        assert_eq!(c.client_ip(&all_trusted, &list), ip("10.3.3.3"));
    }

    #[test]
    fn a_malformed_entry_stops_the_walk_at_the_last_trusted_hop() {
        let list = trusted(&["10.0.0.0/8"]);
        let c = conn("10.0.0.1", &list);
        let h = xff(&["198.51.100.2, garbage, 10.1.1.1"]);
        assert_eq!(c.client_ip(&h, &list), ip("10.1.1.1"));
        let mapped = xff(&["::ffff:198.51.100.7"]);
        assert_eq!(c.client_ip(&mapped, &list), ip("198.51.100.7"));
    }

    #[test]
    fn forwarded_headers_are_replaced_from_untrusted_and_appended_from_trusted() {
        let list = trusted(&["127.0.0.0/8"]);
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header("host", "api.example").unwrap();
        req.insert_header(X_FORWARDED_FOR, "6.6.6.6").unwrap();
        req.insert_header(X_FORWARDED_PROTO, "https").unwrap();
        req.insert_header(X_FORWARDED_HOST, "evil.example").unwrap();
        let mut from_untrusted = req.clone();
        conn("192.0.2.1", &list)
            .forward_headers(&mut from_untrusted)
            .unwrap();
        let h = &from_untrusted.headers;
        assert_eq!(h[X_FORWARDED_FOR], "192.0.2.1");
        assert_eq!(h[X_FORWARDED_PROTO], "http");
        assert_eq!(h[X_FORWARDED_HOST], "api.example");
        let mut from_trusted = req.clone();
        from_trusted
            .append_header(X_FORWARDED_FOR, "7.7.7.7")
            .unwrap();
        conn("127.0.0.1", &list)
            .forward_headers(&mut from_trusted)
            .unwrap();
        let h = &from_trusted.headers;
        assert_eq!(h[X_FORWARDED_FOR], "6.6.6.6, 7.7.7.7, 127.0.0.1");
        assert_eq!(h[X_FORWARDED_PROTO], "https");
        assert_eq!(h[X_FORWARDED_HOST], "evil.example");
    }
}
