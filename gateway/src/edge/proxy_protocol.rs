//! The PROXY protocol header (v1 text or v2 binary, HAProxy's
//! specification) that a load balancer sends before anything else on a
//! connection, parsed with the `ppp` crate.
//!
//! The header's source address is the client. `UNKNOWN` (v1), `LOCAL`
//! (v2, the balancer's own health checks) and non-IP addresses carry no
//! client: the socket peer stays the client address.

use ppp::{v1, v2, HeaderResult, PartialResult};
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Longest header accepted. A v1 header is at most 107 bytes; v2 allows
/// 16 + 65,535 but balancers send the addresses and a few TLVs.
pub(crate) const MAX_HEADER: usize = 4096;

const V1_SIGNATURE: &[u8] = b"PROXY ";

/// Reasons of `gateway_proxy_protocol_rejections_total`.
pub(crate) mod reason {
    /// The connection did not start with a PROXY signature.
    pub(crate) const MISSING: &str = "missing";
    /// A PROXY signature followed by a header that does not parse.
    pub(crate) const INVALID: &str = "invalid";
    /// The client closed the connection before the header was complete.
    pub(crate) const CLOSED: &str = "closed";
    /// The header was not complete within `read_header_timeout`.
    pub(crate) const TIMEOUT: &str = "timeout";
}

/// A parsed header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ProxyHeader {
    /// The client address, when the header names one.
    pub source: Option<SocketAddr>,
    /// Bytes read past the header: the start of the client's own data.
    pub rest: Vec<u8>,
}

/// Reads one PROXY header from the start of `stream`. `Err` is the
/// rejection reason.
pub(crate) async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<ProxyHeader, &'static str> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| reason::CLOSED)?;
        if n == 0 {
            return Err(reason::CLOSED);
        }
        buf.extend_from_slice(&chunk[..n]);
        if !starts_like_a_header(&buf) {
            return Err(reason::MISSING);
        }
        let parsed = HeaderResult::parse(&buf);
        if parsed.is_incomplete() {
            // ppp calls a v1 line with missing fields incomplete even once
            // its CRLF arrived; no further byte can complete it.
            let v1_line_ended =
                buf.starts_with(V1_SIGNATURE) && buf.windows(2).any(|w| w == b"\r\n");
            if v1_line_ended || buf.len() >= MAX_HEADER {
                return Err(reason::INVALID);
            }
            continue;
        }
        let (len, source) = match parsed {
            HeaderResult::V1(Ok(h)) => (h.header.len(), v1_source(&h.addresses)),
            HeaderResult::V2(Ok(h)) => (h.len(), v2_source(&h)),
            _ => return Err(reason::INVALID),
        };
        return Ok(ProxyHeader {
            source,
            rest: buf[len..].to_vec(),
        });
    }
}

/// Whether `buf` is, so far, the start of a v1 or v2 signature.
fn starts_like_a_header(buf: &[u8]) -> bool {
    [V1_SIGNATURE, v2::PROTOCOL_PREFIX].iter().any(|sig| {
        let n = buf.len().min(sig.len());
        buf[..n] == sig[..n]
    })
}

fn v1_source(addresses: &v1::Addresses) -> Option<SocketAddr> {
    match addresses {
        v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v1::Addresses::Unknown => None,
    }
}

fn v2_source(header: &v2::Header) -> Option<SocketAddr> {
    if header.command != v2::Command::Proxy {
        return None;
    }
    match &header.addresses {
        v2::Addresses::IPv4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v2::Addresses::IPv6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v2::Addresses::Unspecified | v2::Addresses::Unix(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    async fn parse(bytes: &[u8]) -> Result<ProxyHeader, &'static str> {
        let mut input = bytes;
        read_header(&mut input).await
    }

    fn v2_header(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut h = v2::PROTOCOL_PREFIX.to_vec();
        h.push(0x20 | command);
        h.push(family);
        h.extend_from_slice(&u16::try_from(addresses.len()).unwrap().to_be_bytes());
        h.extend_from_slice(addresses);
        h
    }

    #[tokio::test]
    async fn v1_gives_the_source_and_keeps_what_follows() {
        let got = parse(b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 443\r\nGET / HTTP/1.1\r\n")
            .await
            .unwrap();
        assert_eq!(
            got.source,
            Some(SocketAddr::from((Ipv4Addr::new(203, 0, 113, 7), 51000)))
        );
        assert_eq!(got.rest, b"GET / HTTP/1.1\r\n");
        let v6 = parse(b"PROXY TCP6 2001:db8::7 2001:db8::1 51000 443\r\n")
            .await
            .unwrap();
        let ip: Ipv6Addr = "2001:db8::7".parse().unwrap();
        assert_eq!(v6.source, Some(SocketAddr::from((ip, 51000))));
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").await.unwrap().source, None);
    }

    #[tokio::test]
    async fn v2_gives_the_source_unless_local() {
        let mut addrs = vec![198, 51, 100, 9, 10, 0, 0, 1];
        addrs.extend_from_slice(&40000u16.to_be_bytes());
        addrs.extend_from_slice(&443u16.to_be_bytes());
        let mut bytes = v2_header(1, 0x11, &addrs);
        bytes.extend_from_slice(b"\x16\x03\x01");
        let got = parse(&bytes).await.unwrap();
        assert_eq!(
            got.source,
            Some(SocketAddr::from((Ipv4Addr::new(198, 51, 100, 9), 40000)))
        );
        assert_eq!(got.rest, b"\x16\x03\x01");
        let local = parse(&v2_header(0, 0x00, &[])).await.unwrap();
        assert_eq!(local.source, None);
    }

    #[tokio::test]
    async fn anything_else_is_refused_with_a_reason() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n").await, Err(reason::MISSING));
        assert_eq!(
            parse(b"PROXY TCP4 nonsense\r\n").await,
            Err(reason::INVALID)
        );
        assert_eq!(parse(b"PROXY TCP4 203.0.113.7").await, Err(reason::CLOSED));
        assert_eq!(parse(b"").await, Err(reason::CLOSED));
        let endless = [b"PROXY ".as_slice(), &[b'1'; MAX_HEADER]].concat();
        assert_eq!(parse(&endless).await, Err(reason::INVALID));
    }
}
