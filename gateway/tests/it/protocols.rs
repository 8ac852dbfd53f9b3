//! Protocols: h2c listeners take HTTP/2 with prior knowledge (HTTP/1.1
//! still works on them), h2c clusters speak HTTP/2 to their upstream, and
//! upstream connections are reused.

use crate::common::{get, start};
use harness::upstream::Echo;
use harness::{MockUpstream, Template};

const CONFIG: &str = r#"
version: 1
threads: 1
grace_period_seconds: 1
graceful_shutdown_timeout_seconds: 1
gateway:
  listeners:
    - { address: "127.0.0.1:${port.proxy}" }
    - { address: "127.0.0.1:${port.h2c}", h2c: true }
  admin: { address: "127.0.0.1:${port.admin}" }
  clusters:
    h1: { endpoints: [ { address: "${upstream.echo}", name: echo } ] }
    h2: { endpoints: [ { address: "${upstream.echo}", name: echo } ], protocol: h2c }
  routes:
    - { name: h1, match: { path_prefix: / }, cluster: h1 }
    - { name: h2, match: { path_prefix: /h2 }, cluster: h2 }
    - name: h2rewrite
      match: { path_prefix: /rewrite }
      cluster: h2
      rewrite: { strip_prefix: true }
      query: { remove: [drop], set: { added: "1" } }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn h2c_listener_h2c_upstream_and_connection_reuse() {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let gw = start(&Template::new(CONFIG).upstream("echo", echo.addr())).await;
    let h2c_url = format!("http://127.0.0.1:{}/", gw.var("port.h2c").unwrap());

    let h2_client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2_client.get(&h2c_url).send().await.expect("h2c request");
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let h1 = reqwest::get(&h2c_url)
        .await
        .expect("HTTP/1.1 on the h2c listener");
    assert_eq!(
        (h1.version(), h1.status().as_u16()),
        (reqwest::Version::HTTP_11, 200)
    );

    let r = get(&gw, "/h2/x", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["path"], "/h2/x");
    assert_eq!(
        r.json()["version"],
        "HTTP/2.0",
        "the h2c cluster speaks HTTP/2 upstream"
    );
    assert_eq!(r.json()["headers"]["x-forwarded-proto"], "http");

    for _ in 0..10 {
        assert_eq!(get(&gw, "/", &[]).await.status, 200);
    }
    let reused = gw
        .metric(
            "gateway_upstream_connections_total",
            &[("cluster", "h1"), ("reused", "true")],
        )
        .await;
    assert!(
        reused >= 9.0,
        "sequential requests should reuse pooled connections, got {reused}"
    );
}

/// An HTTP/2 request carries its host in the URI's authority, not a Host
/// header: a path or query rewrite must keep it, or the h2 upstream request
/// cannot be built ("no authority").
#[tokio::test(flavor = "multi_thread")]
async fn rewrites_keep_the_authority_from_an_h2c_listener_to_an_h2c_cluster() {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let gw = start(&Template::new(CONFIG).upstream("echo", echo.addr())).await;
    let url = format!(
        "http://127.0.0.1:{}/rewrite/items?keep=1&drop=2",
        gw.var("port.h2c").unwrap()
    );
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = client.get(&url).send().await.expect("h2c request");
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["path"], "/items");
    assert_eq!(doc["query"], "keep=1&added=1");
    assert_eq!(doc["version"], "HTTP/2.0");
}
