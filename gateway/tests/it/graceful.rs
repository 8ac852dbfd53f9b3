//! Graceful operation of the real binary: SIGTERM lets in-flight requests
//! finish and closes idle keep-alive connections; SIGQUIT hands the
//! listeners to a process started with `-u`.

use crate::common::{self, config, start, with_drain_delay};
use harness::upstream::{Fixed, Slow};
use harness::{MockUpstream, Template};
use nix::sys::signal::Signal;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn slow_config() -> String {
    let yaml = config(
        r#"
clusters:
  slow: { endpoints: [ { address: "${upstream.slow}", name: slow } ] }
routes:
  - { name: main, match: { path_prefix: / }, cluster: slow }
"#,
    )
    .replace("grace_period_seconds: 1", "grace_period_seconds: 4");
    with_drain_delay(&yaml, "0s")
}

/// An upstream that answers `done` after `delay`.
async fn slow_upstream(delay: Duration) -> MockUpstream {
    let then = std::sync::Arc::new(Fixed::ok("done"));
    MockUpstream::start("slow", Slow { delay, then })
        .await
        .unwrap()
}

/// Sends `GET /` through the gateway and returns once `slow` has it; the
/// handle yields the status and body.
async fn request_in_flight(
    gw: &harness::GatewayProcess,
    slow: &MockUpstream,
) -> tokio::task::JoinHandle<Result<(u16, String), reqwest::Error>> {
    let url = gw.url("/");
    let in_flight = tokio::spawn(async move {
        let resp = common::client().get(url).send().await?;
        Ok((resp.status().as_u16(), resp.text().await?))
    });
    harness::wait::until(
        "the request to reach the upstream",
        Duration::from_secs(5),
        || async { (slow.hits() == 1).then_some(()) },
    )
    .await
    .unwrap();
    in_flight
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_in_flight_request_complete() {
    let slow = slow_upstream(Duration::from_millis(1500)).await;
    let mut gw = start(&Template::new(&slow_config()).upstream("slow", slow.addr())).await;

    let in_flight = request_in_flight(&gw, &slow).await;
    gw.signal(Signal::SIGTERM).unwrap();

    let (status, body) = in_flight
        .await
        .unwrap()
        .expect("the in-flight request failed");
    assert_eq!((status, body.as_str()), (200, "done"));

    // New connections are refused once the listeners stop.
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
    let exit = gw.wait_exit(Duration::from_secs(15)).await.unwrap();
    assert!(exit.success(), "exit status {exit}");
}

/// An idle keep-alive connection is closed when the clean-up starts (half a
/// second after SIGTERM at most), not kept until the process exits: the
/// process is still serving a request that takes 6 s when it closes.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_closes_idle_keepalive_connections_while_requests_finish() {
    let slow = slow_upstream(Duration::from_secs(6)).await;
    let fast = MockUpstream::start("fast", Fixed::ok("fast"))
        .await
        .unwrap();
    let yaml = config(
        r#"
clusters:
  slow: { endpoints: [ { address: "${upstream.slow}", name: slow } ] }
  fast: { endpoints: [ { address: "${upstream.fast}", name: fast } ] }
routes:
  - { name: fast, match: { path_prefix: /fast }, cluster: fast }
  - { name: main, match: { path_prefix: / }, cluster: slow }
"#,
    )
    .replace("grace_period_seconds: 1", "grace_period_seconds: 10");
    let yaml = with_drain_delay(&yaml, "0s");
    let template = Template::new(&yaml)
        .upstream("slow", slow.addr())
        .upstream("fast", fast.addr());
    let mut gw = start(&template).await;

    let mut idle = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    idle.write_all(b"GET /fast HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&response).ends_with("fast") {
        let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut chunk))
            .await
            .expect("no response on the keep-alive connection")
            .unwrap();
        assert!(n > 0, "closed before the first response");
        response.extend_from_slice(&chunk[..n]);
    }

    let in_flight = request_in_flight(&gw, &slow).await;
    gw.signal(Signal::SIGTERM).unwrap();

    let read = tokio::time::timeout(Duration::from_secs(20), idle.read(&mut chunk)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the idle connection stayed open: {read:?}"
    );
    assert!(
        !in_flight.is_finished(),
        "the idle connection was only closed once the slow request had finished"
    );
    let (status, body) = in_flight
        .await
        .unwrap()
        .expect("the in-flight request failed");
    assert_eq!((status, body.as_str()), (200, "done"));
    let exit = gw.wait_exit(Duration::from_secs(20)).await.unwrap();
    assert!(exit.success(), "exit status {exit}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigquit_hands_the_listeners_to_an_upgraded_process() {
    let up = MockUpstream::start("up", Fixed::ok("up")).await.unwrap();
    let body = config(
        r#"
clusters:
  up: { endpoints: [ { address: "${upstream.up}", name: up } ] }
routes:
  - { name: main, match: { path_prefix: / }, cluster: up }
"#,
    );
    let mut old = start(&Template::new(&body).upstream("up", up.addr())).await;
    let mut new = old.spawn_upgrade().unwrap();
    // The new process waits on the upgrade socket; SIGQUIT makes the old one
    // send its listening sockets there.
    harness::wait::until(
        "the new process to listen on the upgrade socket",
        Duration::from_secs(10),
        || {
            let sock = std::path::PathBuf::from(old.var("dir").unwrap()).join("upgrade.sock");
            std::future::ready(sock.exists().then_some(()))
        },
    )
    .await
    .unwrap();
    old.signal(Signal::SIGQUIT).unwrap();
    new.wait_ready().await.unwrap();
    let old_exit = old.wait_exit(Duration::from_secs(20)).await.unwrap();
    assert!(old_exit.success(), "old process exit status {old_exit}");

    let client = common::client();
    for _ in 0..10 {
        let r = client
            .get(new.url("/"))
            .send()
            .await
            .expect("served after the upgrade");
        assert_eq!(r.status(), 200);
    }
    // The new process serves the proxy and admin listeners. Requests are
    // counted in the logging phase, just after the response.
    new.wait_metric(
        "gateway_requests_total",
        &[("route", "main"), ("status", "200")],
        10.0,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
}
