//! WebSocket through the real binary: messages echoed in order, idle
//! periods bounded by the route's `websocket_idle_timeout` (not the
//! cluster's `timeouts.read`), open sockets closed when SIGTERM's grace
//! period ends, and `gateway_websocket_connections` back at 0 every time.

mod common;

use common::{config, start};
use harness::upstream::WebSocketEcho;
use harness::websocket::{exchange, Ended, WsClient};
use harness::{GatewayProcess, MockUpstream, Template};
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

const GAUGE: &str = "gateway_websocket_connections";

/// A gateway in front of one WebSocket echo upstream; `route_extra` is
/// added to the route, `read` is the cluster's `timeouts.read`.
async fn gateway(read: &str, route_extra: &str) -> (GatewayProcess, MockUpstream) {
    let ws = MockUpstream::start("ws", WebSocketEcho).await.unwrap();
    let body = config(&format!(
        r#"
clusters:
  ws: {{ endpoints: [ {{ address: "${{upstream.ws}}", name: ws }} ], timeouts: {{ read: {read} }} }}
routes:
  - {{ name: ws, match: {{ path_prefix: / }}, cluster: ws{route_extra} }}
"#
    ));
    let gw = start(&Template::new(&body).upstream("ws", ws.addr())).await;
    (gw, ws)
}

async fn gauge(gw: &GatewayProcess) -> f64 {
    harness::metrics::value(&gw.metrics().await, GAUGE, &[]).unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_are_echoed_in_order_and_the_upgrade_is_counted() {
    let (gw, ws) = gateway("5s", "").await;
    assert_eq!(
        gauge(&gw).await,
        0.0,
        "the gauge exists at 0 before any socket"
    );

    let mut client = WsClient::connect(gw.proxy_addr(), "/chat").await.unwrap();
    gw.wait_metric(GAUGE, &[], 1.0, Duration::from_secs(5))
        .await
        .unwrap();
    let report = exchange(&mut client, 500, 50, None).await.unwrap();
    assert!(report.echoed_in_order(), "{report:?}");
    assert_eq!(report.received, 500);
    assert_eq!(
        ws.hits(),
        1,
        "one upstream WebSocket for the whole exchange"
    );

    client.close().await.unwrap();
    gw.wait_metric(GAUGE, &[], 0.0, Duration::from_secs(5))
        .await
        .unwrap();
    gw.wait_metric(
        "gateway_requests_total",
        &[("route", "ws"), ("status", "101")],
        1.0,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pause_longer_than_the_cluster_read_timeout_keeps_the_socket_open() {
    let (gw, _ws) = gateway("1s", ", websocket_idle_timeout: 30s").await;
    let mut client = WsClient::connect(gw.proxy_addr(), "/").await.unwrap();
    assert_eq!(client.echo("before").await.unwrap(), "before");
    // The story is about time: silence past timeouts.read (1s).
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(
        client.echo("after the pause").await.unwrap(),
        "after the pause"
    );
    client.close().await.unwrap();
    gw.wait_metric(GAUGE, &[], 0.0, Duration::from_secs(5))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socket_idle_past_websocket_idle_timeout_is_closed() {
    let (gw, ws) = gateway("30s", ", websocket_idle_timeout: 1s").await;
    let mut client = WsClient::connect(gw.proxy_addr(), "/").await.unwrap();
    assert_eq!(client.echo("hello").await.unwrap(), "hello");
    let quiet_since = Instant::now();
    let ended = client.ended_within(Duration::from_secs(8)).await.unwrap();
    assert_eq!(ended, Ended::TcpClose, "the relay is not frame-aware");
    assert!(
        quiet_since.elapsed() >= Duration::from_millis(900),
        "closed after {:?}, before the idle timeout",
        quiet_since.elapsed()
    );
    gw.wait_metric(GAUGE, &[], 0.0, Duration::from_secs(5))
        .await
        .unwrap();
    harness::wait::until(
        "the upstream side to close too",
        Duration::from_secs(5),
        || async { (ws.in_flight() == 0).then_some(()) },
    )
    .await
    .unwrap();
    assert!(
        !gw.log().contains("Fail to proxy"),
        "an idle close is not an error:\n{}",
        gw.log_tail(20)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_closes_open_sockets_when_the_grace_period_ends() {
    let (mut gw, _ws) = {
        let ws = MockUpstream::start("ws", WebSocketEcho).await.unwrap();
        let body = config(
            r#"
clusters:
  ws: { endpoints: [ { address: "${upstream.ws}", name: ws } ] }
routes:
  - { name: ws, match: { path_prefix: / }, cluster: ws }
"#,
        )
        .replace("grace_period_seconds: 1", "grace_period_seconds: 2");
        let gw = start(&Template::new(&body).upstream("ws", ws.addr())).await;
        (gw, ws)
    };
    let mut client = WsClient::connect(gw.proxy_addr(), "/").await.unwrap();
    assert_eq!(client.echo("before").await.unwrap(), "before");

    gw.signal(Signal::SIGTERM).unwrap();
    let signalled = Instant::now();
    // The listener stops at once; the open socket keeps working meanwhile.
    let proxy = gw.proxy_addr();
    harness::wait::until(
        "the listener to close",
        Duration::from_secs(5),
        || async move {
            tokio::net::TcpStream::connect(proxy)
                .await
                .is_err()
                .then_some(())
        },
    )
    .await
    .unwrap();
    assert_eq!(
        client.echo("during the grace period").await.unwrap(),
        "during the grace period"
    );

    // Grace period 2s, then the runtime shutdown (at most 1s).
    let ended = client.ended_within(Duration::from_secs(10)).await.unwrap();
    assert_eq!(ended, Ended::TcpClose, "the relay is not frame-aware");
    assert!(
        signalled.elapsed() >= Duration::from_millis(1900),
        "closed {:?} after SIGTERM, before the grace period ended",
        signalled.elapsed()
    );
    let exit = gw.wait_exit(Duration::from_secs(10)).await.unwrap();
    assert!(exit.success(), "exit status {exit}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_websocket_upgrade_request_keeps_the_cluster_read_timeout() {
    // `curl --http2` on plain HTTP sends `Upgrade: h2c`: an ordinary request
    // whose upstream is slower than timeouts.read must still get a 504.
    let slow = MockUpstream::start(
        "slow",
        harness::upstream::Slow {
            delay: Duration::from_secs(3),
            then: std::sync::Arc::new(harness::upstream::Fixed::ok("late")),
        },
    )
    .await
    .unwrap();
    let body = config(
        r#"
clusters:
  slow: { endpoints: [ { address: "${upstream.slow}", name: slow } ], timeouts: { read: 1s }, retries: { attempts: 0 } }
routes:
  - { name: slow, match: { path_prefix: / }, cluster: slow }
"#,
    );
    let gw = start(&Template::new(&body).upstream("slow", slow.addr())).await;
    let mut conn = common::raw::RawConn::connect(gw.proxy_addr()).await;
    assert!(
        conn.send(
            b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n\
              Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
        )
        .await
    );
    let response = conn
        .response(Duration::from_secs(10))
        .await
        .expect("a response");
    // The upstream answers 200 after 3s; 504 means the 1s read timeout held.
    assert_eq!(response.status, 504, "{}", response.head);
    assert_eq!(gauge(&gw).await, 0.0);
}
