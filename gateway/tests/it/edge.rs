//! Client-side behaviour before and around proxying: `redirect_https`
//! routes, the open-connections gauge, and the `protocol` label of
//! `gateway_requests_total`.

use crate::common;
use crate::common::raw::RawConn;
use crate::common::start;
use harness::certs::TestCerts;
use harness::upstream::Echo;
use harness::{GatewayProcess, MockUpstream, Template};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(10);

const HEAD: &str =
    "version: 1\nthreads: 1\ngrace_period_seconds: 1\ngraceful_shutdown_timeout_seconds: 1\n";

const ECHO: &str =
    "  clusters:\n    echo: { endpoints: [ { address: \"${upstream.echo}\", name: echo } ] }\n";

async fn gateway(template: Template) -> (MockUpstream, GatewayProcess) {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let gw = start(&template.upstream("echo", echo.addr())).await;
    (echo, gw)
}

#[tokio::test(flavor = "multi_thread")]
async fn redirect_https_sends_plaintext_requests_to_the_https_listener() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::generate(dir.path()).unwrap();
    let text = format!(
        "{HEAD}gateway:\n  listeners:\n    - {{ address: \"127.0.0.1:${{port.proxy}}\" }}\n    \
         - {{ address: \"127.0.0.1:${{port.tls}}\", tls: {{ cert: \"${{certs.server_cert}}\", key: \"${{certs.server_key}}\" }} }}\n  \
         admin: {{ address: \"127.0.0.1:${{port.admin}}\" }}\n{ECHO}  routes:\n    \
         - {{ name: secure, match: {{ path_prefix: /secure }}, cluster: echo, redirect_https: true }}\n    \
         - {{ name: open, match: {{ path_prefix: / }}, cluster: echo }}\n"
    );
    let template = certs
        .vars()
        .into_iter()
        .fold(Template::new(&text), |t, (k, v)| t.var(k, &v));
    let (_echo, gw) = gateway(template).await;
    let tls_port = gw.var("port.tls").unwrap().to_string();

    let mut conn = RawConn::connect(gw.proxy_addr()).await;
    let request = "GET /secure/a?x=1&y=2 HTTP/1.1\r\nHost: api.example.test:8080\r\n\r\n";
    assert!(conn.send(request.as_bytes()).await);
    let response = conn.response(WITHIN).await.expect("a response");
    assert_eq!(response.status, 308, "{response:?}");
    assert_eq!(
        response.header("location"),
        Some(format!("https://api.example.test:{tls_port}/secure/a?x=1&y=2").as_str())
    );
    // The connection stays usable, and other routes are served in plaintext.
    let request = "GET /open HTTP/1.1\r\nHost: api.example.test\r\n\r\n";
    assert!(conn.send(request.as_bytes()).await);
    let response = conn.response(WITHIN).await.expect("a response");
    assert_eq!(response.status, 200, "{response:?}");

    let ca = std::fs::read(certs.ca()).unwrap();
    let tls_addr: std::net::SocketAddr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    let client = reqwest::Client::builder()
        .timeout(WITHIN)
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .resolve("localhost", tls_addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("https://localhost:{tls_port}/secure/a");
    let response = client.get(url).send().await.expect("HTTPS request");
    assert_eq!(response.status(), 200, "requests over TLS pass");
}

#[tokio::test]
async fn redirect_https_without_an_https_listener_is_a_config_error() {
    let text = format!(
        "{HEAD}gateway:\n  listeners: [ {{ address: \"127.0.0.1:${{port.proxy}}\" }} ]\n  \
         admin: {{ address: \"127.0.0.1:${{port.admin}}\" }}\n{ECHO}  routes:\n    \
         - {{ name: secure, match: {{ path_prefix: / }}, cluster: echo, redirect_https: true }}\n"
    );
    let template = Template::new(&text).upstream("echo", "127.0.0.1:9".parse().unwrap());
    let error = match harness::GatewayProcess::start(common::binary(), &template).await {
        Ok(_) => panic!("started with redirect_https and no HTTPS listener"),
        Err(e) => e,
    };
    assert!(
        error.contains("gateway.routes[0].redirect_https: no listener has `tls`"),
        "{error}"
    );
}

fn plain_config(h2c: bool) -> Template {
    Template::new(&format!(
        "{HEAD}gateway:\n  listeners: [ {{ address: \"127.0.0.1:${{port.proxy}}\", h2c: {h2c} }} ]\n  \
         admin: {{ address: \"127.0.0.1:${{port.admin}}\" }}\n{ECHO}  routes:\n    \
         - {{ name: all, match: {{ path_prefix: / }}, cluster: echo }}\n"
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_connections_gauge_follows_open_client_connections() {
    let (_echo, gw) = gateway(plain_config(false)).await;
    let listener = format!("127.0.0.1:{}", gw.proxy_addr().port());
    let gauge = "gateway_downstream_connections";
    let labels = [("listener", listener.as_str())];
    gw.wait_metric(gauge, &labels, 0.0, WITHIN).await.unwrap();
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut conn = RawConn::connect(gw.proxy_addr()).await;
        assert!(conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await);
        let response = conn.response(WITHIN).await.expect("a response");
        assert_eq!(response.status, 200);
        conns.push(conn);
    }
    // Kept alive after their request: still open.
    gw.wait_metric(gauge, &labels, 3.0, WITHIN).await.unwrap();
    drop(conns);
    gw.wait_metric(gauge, &labels, 0.0, WITHIN).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_counted_by_protocol() {
    let (_echo, gw) = gateway(plain_config(true)).await;
    let h1 = common::client();
    let h2c = reqwest::Client::builder()
        .timeout(WITHIN)
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let url = gw.url("/");
    for _ in 0..2 {
        assert_eq!(h1.get(&url).send().await.unwrap().status(), 200);
    }
    for _ in 0..3 {
        assert_eq!(h2c.get(&url).send().await.unwrap().status(), 200);
    }
    let grpc = h2c
        .post(&url)
        .header("content-type", "application/grpc+proto")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .unwrap();
    assert_eq!(grpc.status(), 200);
    let mut upgrade = RawConn::connect(gw.proxy_addr()).await;
    let request = "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                   Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    assert!(upgrade.send(request.as_bytes()).await);
    assert!(upgrade.response(WITHIN).await.is_some());
    drop(upgrade);
    let requests = "gateway_requests_total";
    for (protocol, count) in [
        ("http1", 2.0),
        ("h2c", 3.0),
        ("grpc", 1.0),
        ("websocket", 1.0),
    ] {
        gw.wait_metric(
            requests,
            &[("route", "all"), ("status", "200"), ("protocol", protocol)],
            count,
            WITHIN,
        )
        .await
        .unwrap();
    }
}
