//! Graceful operation of the real binary: SIGTERM lets in-flight requests
//! finish; SIGQUIT hands the listeners to a process started with `-u`.

mod common;

use common::{config, start};
use harness::upstream::{Fixed, Slow};
use harness::{MockUpstream, Template};
use nix::sys::signal::Signal;
use std::time::Duration;

fn slow_config() -> String {
    config(
        r#"
clusters:
  slow: { endpoints: [ { address: "${upstream.slow}", name: slow } ] }
routes:
  - { name: main, match: { path_prefix: / }, cluster: slow }
"#,
    )
    .replace("grace_period_seconds: 1", "grace_period_seconds: 4")
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_in_flight_request_complete() {
    let slow = MockUpstream::start(
        "slow",
        Slow {
            delay: Duration::from_millis(1500),
            then: std::sync::Arc::new(Fixed::ok("done")),
        },
    )
    .await
    .unwrap();
    let mut gw = start(&Template::new(&slow_config()).upstream("slow", slow.addr())).await;

    let url = gw.url("/");
    let in_flight = tokio::spawn(async move {
        let resp = common::client().get(url).send().await?;
        let status = resp.status().as_u16();
        Ok::<_, reqwest::Error>((status, resp.text().await?))
    });
    harness::wait::until(
        "the request to reach the upstream",
        Duration::from_secs(5),
        || async { (slow.hits() == 1).then_some(()) },
    )
    .await
    .unwrap();
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
