//! Listeners with `proxy_protocol: true`: the PROXY header's source address
//! is the client (what the upstream sees in `X-Forwarded-For`, and what
//! `trusted_proxies` is checked against), on plaintext and HTTPS listeners;
//! a connection without a valid header, or whose header does not arrive in
//! time, is closed and counted.

use crate::common::raw::{RawConn, RawResponse};
use crate::common::start;
use harness::certs::TestCerts;
use harness::upstream::Echo;
use harness::{GatewayProcess, MockUpstream, Template};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const WITHIN: Duration = Duration::from_secs(10);

const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

fn config(listener: &str, extra: &str) -> String {
    format!(
        "version: 1\nthreads: 1\ngrace_period_seconds: 1\ngraceful_shutdown_timeout_seconds: 1\n\
         gateway:\n  listeners:\n    - {listener}\n  \
         admin: {{ address: \"127.0.0.1:${{port.admin}}\" }}\n  \
         downstream: {{ read_header_timeout: 1s }}\n{extra}  \
         clusters:\n    echo: {{ endpoints: [ {{ address: \"${{upstream.echo}}\", name: echo }} ] }}\n  \
         routes:\n    - {{ name: all, match: {{ path_prefix: / }}, cluster: echo }}\n"
    )
}

const PLAIN_PROXY: &str = r#"{ address: "127.0.0.1:${port.proxy}", proxy_protocol: true }"#;

async fn gateway(template: Template) -> (MockUpstream, GatewayProcess) {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let gw = start(&template.upstream("echo", echo.addr())).await;
    (echo, gw)
}

/// A v2 PROXY header for a TCP over IPv4 connection from `source`.
fn v2_header(source: SocketAddr, dest: SocketAddr) -> Vec<u8> {
    let (SocketAddr::V4(s), SocketAddr::V4(d)) = (source, dest) else {
        panic!("IPv4 only");
    };
    let mut h = V2_SIGNATURE.to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&s.ip().octets());
    h.extend_from_slice(&d.ip().octets());
    h.extend_from_slice(&s.port().to_be_bytes());
    h.extend_from_slice(&d.port().to_be_bytes());
    h
}

fn v1_header(source: SocketAddr, dest: SocketAddr) -> Vec<u8> {
    format!(
        "PROXY TCP4 {} {} {} {}\r\n",
        source.ip(),
        dest.ip(),
        source.port(),
        dest.port()
    )
    .into_bytes()
}

fn get(extra_headers: &str) -> Vec<u8> {
    format!("GET /who HTTP/1.1\r\nHost: edge.test\r\n{extra_headers}Connection: close\r\n\r\n")
        .into_bytes()
}

/// Sends `bytes` in one write (the header and the request together, as a
/// load balancer does) and reads the response.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Option<RawResponse> {
    let mut conn = RawConn::connect(addr).await;
    assert!(
        conn.send(bytes).await,
        "the gateway closed before the request was sent"
    );
    conn.response(WITHIN).await
}

/// The `X-Forwarded-For` the echo upstream received.
fn forwarded_for(response: &RawResponse) -> String {
    let json: serde_json::Value = serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("echo body is not JSON ({e}): {response:?}"));
    json["headers"]["x-forwarded-for"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn v1_and_v2_headers_make_their_source_the_client() {
    let (_echo, gw) = gateway(Template::new(&config(PLAIN_PROXY, ""))).await;
    let addr = gw.proxy_addr();
    let v1_source: SocketAddr = "203.0.113.7:51000".parse().unwrap();
    let v2_source: SocketAddr = "198.51.100.9:40000".parse().unwrap();
    for (header, client) in [
        (v1_header(v1_source, addr), "203.0.113.7"),
        (v2_header(v2_source, addr), "198.51.100.9"),
    ] {
        let bytes = [header, get("")].concat();
        let response = exchange(addr, &bytes).await.expect("a response");
        assert_eq!(response.status, 200, "{response:?}");
        assert_eq!(forwarded_for(&response), client);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_proxy_in_the_header_has_its_forwarded_for_believed() {
    let trusted = "  trusted_proxies: [\"203.0.113.0/24\"]\n";
    let (_echo, gw) = gateway(Template::new(&config(PLAIN_PROXY, trusted))).await;
    let addr = gw.proxy_addr();
    let header = v1_header("203.0.113.7:51000".parse().unwrap(), addr);
    let bytes = [header, get("X-Forwarded-For: 192.0.2.44\r\n")].concat();
    let response = exchange(addr, &bytes).await.expect("a response");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(forwarded_for(&response), "192.0.2.44, 203.0.113.7");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_without_a_valid_header_are_closed_and_counted() {
    let (_echo, gw) = gateway(Template::new(&config(PLAIN_PROXY, ""))).await;
    let addr = gw.proxy_addr();
    let rejections = "gateway_proxy_protocol_rejections_total";
    assert!(
        exchange(addr, &get("")).await.is_none(),
        "served without a header"
    );
    gw.wait_metric(rejections, &[("reason", "missing")], 1.0, WITHIN)
        .await
        .unwrap();
    let bad = [b"PROXY TCP4 not-an-address\r\n".to_vec(), get("")].concat();
    assert!(
        exchange(addr, &bad).await.is_none(),
        "served after a bad header"
    );
    gw.wait_metric(rejections, &[("reason", "invalid")], 1.0, WITHIN)
        .await
        .unwrap();
    // Nothing sent: closed once read_header_timeout (1s) passes.
    let mut silent = RawConn::connect(addr).await;
    assert!(
        silent.closed_within(WITHIN).await,
        "a silent connection stayed open"
    );
    gw.wait_metric(rejections, &[("reason", "timeout")], 1.0, WITHIN)
        .await
        .unwrap();
}

/// Forwards one connection to `target`, prefixed with a PROXY v2 header
/// naming `source`: a load balancer in front of an HTTPS listener.
async fn proxy_protocol_forwarder(target: SocketAddr, source: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let Ok((mut client, _)) = listener.accept().await else {
            return;
        };
        let Ok(mut upstream) = TcpStream::connect(target).await else {
            return;
        };
        if upstream.write_all(&v2_header(source, target)).await.is_ok() {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn the_header_comes_before_tls_on_https_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::generate(dir.path()).unwrap();
    let listener = r#"{ address: "127.0.0.1:${port.proxy}", proxy_protocol: true, tls: { cert: "${certs.server_cert}", key: "${certs.server_key}" } }"#;
    let template = certs
        .vars()
        .into_iter()
        .fold(Template::new(&config(listener, "")), |t, (k, v)| {
            t.var(k, &v)
        });
    let (_echo, gw) = gateway(template).await;
    let forwarder =
        proxy_protocol_forwarder(gw.proxy_addr(), "192.0.2.80:33000".parse().unwrap()).await;
    let ca = std::fs::read(certs.ca()).unwrap();
    let client = reqwest::Client::builder()
        .timeout(WITHIN)
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .resolve("localhost", forwarder)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/who", forwarder.port());
    let response = client
        .get(url)
        .send()
        .await
        .expect("HTTPS through the header");
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["headers"]["x-forwarded-for"], "192.0.2.80");
    assert_eq!(json["headers"]["x-forwarded-proto"], "https");
}
