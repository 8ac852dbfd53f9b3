//! Client identity and request guards against the real binary: which
//! `X-Forwarded-*` headers the upstream gets from trusted and untrusted
//! peers, IP allow/deny over IPv4 and IPv6, header limits (431), body size
//! limits (413) and body rules (403). Where the point is what the upstream
//! received, a wiremock server checks it with request matchers and exact
//! `.expect(n)` counts.

use crate::common::raw::RawConn;
use crate::common::{client, config, send, start};
use harness::Template;
use std::time::Duration;
use wiremock::matchers::{any, body_string, header, header_exists, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const EXCHANGE: Duration = Duration::from_secs(10);

fn template(upstream: &MockServer, gateway_keys: &str, routes: &str) -> Template {
    let body = format!(
        r#"
{gateway_keys}
clusters:
  app: {{ endpoints: [ {{ address: "${{upstream.mock}}" }} ] }}
routes:
{routes}
"#
    );
    Template::new(&config(&body)).upstream("mock", *upstream.address())
}

/// Matches the whole `X-Forwarded-For` value (wiremock's `header` matcher
/// splits values at commas).
fn forwarded_for(want: &'static str) -> impl Fn(&Request) -> bool + Send + Sync {
    move |r: &Request| {
        r.headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(", ")
            == want
    }
}

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_string("upstream")
}

#[tokio::test]
async fn an_untrusted_peers_forwarded_headers_are_replaced() {
    let upstream = MockServer::start().await;
    Mock::given(path("/app/x"))
        .and(forwarded_for("127.0.0.1"))
        .and(header("x-forwarded-proto", "http"))
        .and(header("x-forwarded-host", "api.example"))
        .respond_with(ok())
        .expect(2)
        .mount(&upstream)
        .await;
    let routes =
        r#"  - { match: { path_prefix: /app }, cluster: app, ip: { deny: ["198.51.100.0/24"] } }"#;
    let gw = start(&template(&upstream, "", routes)).await;
    let c = client();
    for spoof in ["198.51.100.2", "10.0.0.1, 198.51.100.2"] {
        let reply = send(
            &c,
            c.get(gw.url("/app/x"))
                .header("host", "api.example")
                .header("x-forwarded-for", spoof)
                .header("x-forwarded-proto", "https")
                .header("x-forwarded-host", "evil.example"),
        )
        .await;
        // The spoofed address is not the client: the deny rule does not apply.
        assert_eq!(reply.status, 200, "{spoof}: {}", reply.body);
    }
    upstream.verify().await;
}

#[tokio::test]
async fn behind_trusted_proxies_the_right_most_untrusted_entry_is_the_client() {
    let upstream = MockServer::start().await;
    Mock::given(path("/app/x"))
        .and(forwarded_for("203.0.113.9, 10.1.1.1, 127.0.0.1"))
        .and(header("x-forwarded-proto", "https"))
        .and(header("x-forwarded-host", "public.example"))
        .respond_with(ok())
        .expect(1)
        .mount(&upstream)
        .await;
    Mock::given(path("/app/x"))
        .and(forwarded_for("198.51.100.2, 203.0.113.9, 127.0.0.1"))
        .respond_with(ok())
        .expect(1)
        .mount(&upstream)
        .await;
    let keys = r#"trusted_proxies: ["127.0.0.0/8", "10.0.0.0/8"]"#;
    let routes =
        r#"  - { match: { path_prefix: /app }, cluster: app, ip: { deny: ["198.51.100.0/24"] } }"#;
    let gw = start(&template(&upstream, keys, routes)).await;
    let c = client();
    let get = |xff: &'static str| {
        c.get(gw.url("/app/x"))
            .header("x-forwarded-for", xff)
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "public.example")
    };
    // 10.1.1.1 is a trusted hop: the client is 203.0.113.9; the peer is appended.
    assert_eq!(send(&c, get("203.0.113.9, 10.1.1.1")).await.status, 200);
    // The client behind the trusted hop is in the denied network.
    let denied = send(&c, get("198.51.100.2, 10.1.1.1")).await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json()["status"], 403);
    // The right-most untrusted entry is the client; what it forwards is not believed.
    assert_eq!(send(&c, get("198.51.100.2, 203.0.113.9")).await.status, 200);
    upstream.verify().await;
}

#[tokio::test]
async fn ip_rules_apply_to_ipv4_and_ipv6_clients_and_a_bad_reload_keeps_them() {
    let upstream = MockServer::start().await;
    Mock::given(any())
        .respond_with(ok())
        .expect(3)
        .mount(&upstream)
        .await;
    let routes = r#"  - { name: v4only, match: { path_prefix: /v4only }, cluster: app, ip: { allow: ["127.0.0.0/8"] } }
  - { name: no6, match: { path_prefix: /no6 }, cluster: app, ip: { allow: ["0.0.0.0/0", "::/0"], deny: ["::1/128"] } }"#;
    let text = config(&format!(
        r#"
clusters:
  app: {{ endpoints: [ {{ address: "${{upstream.mock}}" }} ] }}
routes:
{routes}
"#
    ))
    .replace(
        "listeners: [ { address: \"127.0.0.1:${port.proxy}\" } ]",
        "listeners: [ { address: \"127.0.0.1:${port.proxy}\" }, { address: \"[::1]:${port.proxy6}\" } ]",
    );
    assert!(text.contains("port.proxy6"));
    let template = Template::new(&text).upstream("mock", *upstream.address());
    let gw = start(&template).await;
    let v6 = |p: &str| format!("http://[::1]:{}{p}", gw.var("port.proxy6").unwrap());
    let c = client();
    let status = |url: String| {
        let c = c.clone();
        async move { send(&c, c.get(url)).await.status }
    };
    assert_eq!(status(gw.url("/v4only")).await, 200);
    assert_eq!(status(v6("/v4only")).await, 403);
    assert_eq!(status(v6("/no6")).await, 403);
    assert_eq!(status(gw.url("/no6")).await, 200);

    // A reload with a bad network is refused and the old rules stay.
    let bad = text.replace("deny: [\"::1/128\"]", "deny: [\"::1/129\"]");
    gw.rewrite_config(&bad).unwrap();
    let (code, answer) = gw.reload().await.unwrap();
    assert_ne!(code, 200, "{answer}");
    let message = answer.to_string();
    assert!(
        message.contains("gateway.routes[1].ip.deny[0]"),
        "{message}"
    );
    assert_eq!(status(v6("/no6")).await, 403);
    assert_eq!(status(gw.url("/no6")).await, 200);
    upstream.verify().await;
}

#[tokio::test]
async fn too_many_or_too_large_header_fields_get_431() {
    let upstream = MockServer::start().await;
    Mock::given(any())
        .respond_with(ok())
        .expect(1)
        .mount(&upstream)
        .await;
    let routes =
        "  - { match: { path_prefix: /app }, cluster: app, max_headers: 8, max_header_bytes: 512 }";
    let gw = start(&template(&upstream, "", routes)).await;
    let c = client();
    assert_eq!(send(&c, c.get(gw.url("/app"))).await.status, 200);
    let mut many = c.get(gw.url("/app"));
    for i in 0..10 {
        many = many.header(format!("x-field-{i}"), "v");
    }
    let reply = send(&c, many).await;
    assert_eq!(reply.status, 431);
    assert_eq!(reply.json()["status"], 431);
    let big = c.get(gw.url("/app")).header("x-big", "v".repeat(600));
    assert_eq!(send(&c, big).await.status, 431);
    upstream.verify().await;
}

#[tokio::test]
async fn a_content_length_over_the_limit_gets_413_and_nothing_reaches_the_upstream() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string("small"))
        .respond_with(ok())
        .expect(1)
        .mount(&upstream)
        .await;
    Mock::given(any())
        .respond_with(ok())
        .expect(0)
        .mount(&upstream)
        .await;
    let routes = "  - { match: { path_prefix: /app }, cluster: app, max_body_bytes: 1KiB }";
    let gw = start(&template(&upstream, "", routes)).await;
    let c = client();
    assert_eq!(
        send(&c, c.post(gw.url("/app")).body("small")).await.status,
        200
    );
    let mut conn = RawConn::connect(gw.proxy_addr()).await;
    // Only the head: 413 comes before any body byte is read.
    assert!(
        conn.send(b"POST /app HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\n\r\n")
            .await
    );
    let reply = conn.response(EXCHANGE).await.expect("a response");
    assert_eq!(reply.status, 413, "{}", reply.head);
    upstream.verify().await;
}

/// `n` chunks of `size` bytes of `fill`, chunked-encoded, without the last chunk.
fn chunks(n: usize, size: usize, fill: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        out.extend(std::iter::repeat_n(fill, size));
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_gets_413_and_the_upstream_request_never_completes() {
    let upstream = MockServer::start().await;
    Mock::given(any())
        .respond_with(ok())
        .expect(0)
        .mount(&upstream)
        .await;
    let routes = "  - { match: { path_prefix: /app }, cluster: app, max_body_bytes: 1KiB }";
    let gw = start(&template(&upstream, "", routes)).await;
    let mut conn = RawConn::connect(gw.proxy_addr()).await;
    let head = b"POST /app HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert!(conn.send(head).await);
    assert!(conn.send(&chunks(1, 600, b'a')).await);
    assert!(conn.send(&chunks(1, 600, b'b')).await);
    let reply = conn.response(EXCHANGE).await.expect("a response");
    assert_eq!(reply.status, 413, "{}", reply.head);
    assert!(conn.closed_within(EXCHANGE).await, "the connection closes");
    // wiremock records a request only once its body is complete.
    assert!(upstream.received_requests().await.unwrap().is_empty());
    // A rejection, not a proxy failure: no error line.
    let log = gw.log();
    assert!(!log.contains(" ERROR "), "{log}");
    upstream.verify().await;
}

#[tokio::test]
async fn body_rules_refuse_matching_bodies_before_anything_reaches_the_upstream() {
    let upstream = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string("id=1"))
        .respond_with(ok())
        .expect(1)
        .mount(&upstream)
        .await;
    // A large clean body, and one whose match lies past the window.
    Mock::given(method("POST"))
        .and(header_exists("x-large"))
        .respond_with(ok())
        .expect(2)
        .mount(&upstream)
        .await;
    Mock::given(any())
        .respond_with(ok())
        .expect(0)
        .mount(&upstream)
        .await;
    let routes = r#"  - name: guarded
    match: { path_prefix: /app }
    cluster: app
    body_rules: { deny: ["(?i)union\\s+select"], inspect_bytes: 64KiB }"#;
    let gw = start(&template(&upstream, "", routes)).await;
    let c = client();
    let post = |body: Vec<u8>| c.post(gw.url("/app")).body(body);
    assert_eq!(send(&c, post(b"id=1".to_vec())).await.status, 200);
    let refused = send(&c, post(b"id=1 UNION  Select password".to_vec())).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["status"], 403);
    // 100 KiB: more than one read, beyond Pingora's 64 KiB retry buffer.
    let mut late_match = vec![b'a'; 60 * 1024];
    late_match.extend_from_slice(b" union select ");
    late_match.resize(100 * 1024, b'a');
    assert_eq!(send(&c, post(late_match)).await.status, 403);
    let clean = vec![b'a'; 100 * 1024];
    let reply = send(&c, post(clean).header("x-large", "1")).await;
    assert_eq!(reply.status, 200);
    // Past the window the body streams unbuffered and unchecked.
    let mut past_window = vec![b'a'; 70 * 1024];
    past_window.extend_from_slice(b" union select ");
    assert_eq!(
        send(&c, post(past_window).header("x-large", "1"))
            .await
            .status,
        200
    );
    // A chunked body is refused too; the upstream never gets a complete request.
    let mut conn = RawConn::connect(gw.proxy_addr()).await;
    let mut raw = b"POST /app HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    raw.extend_from_slice(b"11\r\nid=1 union select\r\n");
    raw.extend_from_slice(b"0\r\n\r\n");
    assert!(conn.send(&raw).await);
    let reply = conn.response(EXCHANGE).await.expect("a response");
    assert_eq!(reply.status, 403, "{}\n{}", reply.head, gw.log_tail(20));
    // The match in a later chunk than the first: refused all the same.
    let mut conn = RawConn::connect(gw.proxy_addr()).await;
    let head = b"POST /app HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert!(conn.send(head).await);
    assert!(conn.send(b"5\r\nid=1 \r\n").await);
    assert!(conn.send(b"c\r\nunion select\r\n0\r\n\r\n").await);
    let reply = conn.response(EXCHANGE).await.expect("a response");
    assert_eq!(reply.status, 403, "{}", reply.head);
    gw.wait_metric(
        "gateway_body_rule_rejections_total",
        &[("route", "guarded")],
        4.0,
        EXCHANGE,
    )
    .await
    .unwrap();
    upstream.verify().await;
    let received = upstream.received_requests().await.unwrap();
    assert!(received
        .iter()
        .all(|r| !String::from_utf8_lossy(&r.body).contains("id=1 union")));
    let large: Vec<usize> = received
        .iter()
        .filter(|r| r.headers.contains_key("x-large"))
        .map(|r| r.body.len())
        .collect();
    assert_eq!(large, vec![100 * 1024, 70 * 1024 + 14]);
}
