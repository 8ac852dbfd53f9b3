//! WebSocket over an HTTPS listener (`wss://`): the upgrade runs over
//! HTTP/1.1 inside TLS (the client offers only `http/1.1`, as WebSocket
//! clients do, on a listener that also offers h2), and messages cross both
//! ways in order.

use crate::common::start;
use futures::{SinkExt, StreamExt};
use harness::certs::TestCerts;
use harness::upstream::WebSocketEcho;
use harness::{MockUpstream, Template};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

const IO: Duration = Duration::from_secs(5);

const CONFIG: &str = r#"version: 1
threads: 1
grace_period_seconds: 1
graceful_shutdown_timeout_seconds: 1
gateway:
  listeners:
    - address: "127.0.0.1:${port.proxy}"
      tls: { cert: "${certs.server_cert}", key: "${certs.server_key}", h2: true }
  admin: { address: "127.0.0.1:${port.admin}" }
  clusters:
    echo: { endpoints: [ { address: "${upstream.echo}", name: echo } ] }
  routes:
    - { name: ws, match: { path_prefix: /ws }, cluster: echo, websocket_idle_timeout: 10s }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn wss_messages_are_echoed_in_order_through_an_https_listener() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::generate(dir.path()).unwrap();
    let echo = MockUpstream::start("echo", WebSocketEcho).await.unwrap();
    let template = certs
        .vars()
        .into_iter()
        .fold(Template::new(CONFIG), |t, (k, v)| t.var(k, &v))
        .upstream("echo", echo.addr());
    let gw = start(&template).await;

    let mut roots = RootCertStore::empty();
    roots.add(certs.ca_der()).unwrap();
    let mut config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake with the gateway");
    let (mut socket, response) = tokio::time::timeout(
        IO,
        tokio_tungstenite::client_async("wss://localhost/ws/chat", tls),
    )
    .await
    .expect("no upgrade within 5 s")
    .expect("the upgrade failed");
    assert_eq!(response.status(), 101);

    let messages: Vec<String> = (0..200)
        .map(|i| format!("wss {i} {}", "y".repeat(i % 53)))
        .collect();
    for batch in messages.chunks(50) {
        for m in batch {
            socket.feed(Message::text(m.as_str())).await.unwrap();
        }
        socket.flush().await.unwrap();
        for m in batch {
            let reply = tokio::time::timeout(IO, socket.next())
                .await
                .expect("no echo within 5 s")
                .expect("the socket ended")
                .expect("receiving");
            assert_eq!(reply, Message::text(m.as_str()));
        }
    }
    assert_eq!(echo.hits(), 1, "one upgrade reached the upstream");
    gw.wait_metric("gateway_websocket_connections", &[], 1.0, IO)
        .await
        .unwrap();
    socket.close(None).await.unwrap();
    gw.wait_metric("gateway_websocket_connections", &[], 0.0, IO)
        .await
        .unwrap();
}
