//! Sticky sessions: a client pinned to a backup endpoint moves back to the
//! primaries once they recover, and a transparent reconnect (a stale pooled
//! connection) keeps the client on its pinned endpoint.

use crate::common::{config, get, start, Reply};
use harness::upstream::Fixed;
use harness::{MockUpstream, Template};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const DEADLINE: Duration = Duration::from_secs(10);

fn cookie_of(reply: &Reply) -> String {
    let set_cookie = reply.header("set-cookie").expect("a pin cookie");
    set_cookie.split(';').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_pinned_to_a_backup_endpoint_returns_to_a_recovered_primary() {
    let primary = MockUpstream::start("primary", Fixed::ok("p"))
        .await
        .unwrap();
    let backup = MockUpstream::start("backup", Fixed::ok("b")).await.unwrap();
    let body = r#"
clusters:
  pool:
    endpoints: [ { address: "${upstream.primary}", name: primary } ]
    backup: [ { address: "${upstream.backup}", name: backup } ]
    sticky: { cookie: gw_pin, secret: test-secret }
    health_check: { kind: tcp, interval: 100ms, unhealthy_after: 1, healthy_after: 1 }
routes:
  - { name: all, match: { path_prefix: / }, cluster: pool }
"#;
    let template = Template::new(&config(body))
        .upstream("primary", primary.addr())
        .upstream("backup", backup.addr());
    let gw = start(&template).await;

    primary.down().await;
    gw.wait_metric(
        "gateway_upstream_healthy",
        &[("endpoint", "primary")],
        0.0,
        DEADLINE,
    )
    .await
    .unwrap();
    let on_backup = get(&gw, "/", &[]).await;
    assert_eq!(on_backup.upstream(), "backup");
    let backup_pin = cookie_of(&on_backup);
    assert_eq!(
        get(&gw, "/", &[("cookie", &backup_pin)]).await.upstream(),
        "backup"
    );

    primary.up().await.unwrap();
    gw.wait_metric(
        "gateway_upstream_healthy",
        &[("endpoint", "primary")],
        1.0,
        DEADLINE,
    )
    .await
    .unwrap();
    let back = get(&gw, "/", &[("cookie", &backup_pin)]).await;
    assert_eq!(
        back.upstream(),
        "primary",
        "the backup pin outlived the outage"
    );
    let primary_pin = cookie_of(&back);
    assert_ne!(
        primary_pin, backup_pin,
        "the client is re-pinned to the primary"
    );
    let again = get(&gw, "/", &[("cookie", &primary_pin)]).await;
    assert_eq!(again.upstream(), "primary");
    assert!(again.header("set-cookie").is_none());
}

/// An HTTP/1.1 upstream that answers the first request of each connection
/// (keep-alive, tagged `x-upstream: NAME`) and closes the connection when a
/// second request arrives on it, as a server does that timed out an idle
/// connection just as it was reused.
async fn stale_after_one(name: &'static str) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answered = Arc::new(AtomicUsize::new(0));
    let count = answered.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_once(stream, name, count.clone()));
        }
    });
    (addr, answered)
}

async fn serve_once(mut stream: TcpStream, name: &str, answered: Arc<AtomicUsize>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let response = format!(
        "HTTP/1.1 200 OK\r\nx-upstream: {name}\r\ncontent-length: {}\r\n\r\n{name}",
        name.len()
    );
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    answered.fetch_add(1, SeqCst);
    // Wait for the next request on this connection, then drop it unanswered.
    let _ = stream.read(&mut chunk).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reconnect_after_a_stale_pooled_connection_keeps_the_pinned_endpoint() {
    let (x, _) = stale_after_one("x").await;
    let (y, _) = stale_after_one("y").await;
    let body = r#"
clusters:
  pool:
    endpoints: [ { address: "${upstream.x}", name: x }, { address: "${upstream.y}", name: y } ]
    sticky: { cookie: gw_pin, secret: test-secret }
routes:
  - { name: all, match: { path_prefix: / }, cluster: pool }
"#;
    let template = Template::new(&config(body))
        .upstream("x", x)
        .upstream("y", y);
    let gw = start(&template).await;

    let first = get(&gw, "/", &[]).await;
    let pinned_to = first.upstream().to_string();
    let pin = cookie_of(&first);
    // Each request reuses the pooled connection to the pinned endpoint, which
    // the endpoint closes: the gateway reconnects, to the same endpoint.
    for i in 0..6 {
        let r = get(&gw, "/", &[("cookie", &pin)]).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.upstream(),
            pinned_to,
            "request {i} left its pinned endpoint"
        );
        assert!(
            r.header("set-cookie").is_none(),
            "request {i} was re-pinned"
        );
    }
    assert_eq!(
        gw.metric("gateway_retries_total", &[("cluster", "pool")])
            .await,
        0.0,
        "a reconnect is not a retry"
    );
}
