//! Health: active checks take endpoints out and back after their
//! thresholds, the backup pool serves while no primary is healthy, passive
//! ejection, and a cluster with nothing healthy answers 503 at once.

use crate::common::{config, get, start, tally};
use harness::upstream::Fixed;
use harness::{MockUpstream, Template};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread")]
async fn failing_http_checks_remove_an_endpoint_after_the_threshold_and_passing_ones_restore_it() {
    let a = MockUpstream::start("a", Fixed::ok("a")).await.unwrap();
    let b = MockUpstream::start("b", Fixed::ok("b")).await.unwrap();
    let body = r#"
clusters:
  pool:
    endpoints: [ { address: "${upstream.a}", name: a }, { address: "${upstream.b}", name: b } ]
    health_check: { kind: http, path: /healthz, expect_status: 200, interval: 100ms, unhealthy_after: 3, healthy_after: 2 }
routes:
  - { name: all, match: { path_prefix: / }, cluster: pool }
"#;
    let template = Template::new(&config(body))
        .upstream("a", a.addr())
        .upstream("b", b.addr());
    let gw = start(&template).await;

    // `a` still serves traffic but fails its checks: only the checks can
    // take it out.
    let checks_before = a.health_checks();
    a.set_health_status(503);
    gw.wait_metric(
        "gateway_upstream_healthy",
        &[("endpoint", "a")],
        0.0,
        DEADLINE,
    )
    .await
    .unwrap();
    let failed_checks = a.health_checks() - checks_before;
    assert!(
        failed_checks >= 3,
        "unhealthy after {failed_checks} failing checks, threshold is 3"
    );
    let hits_before = a.hits();
    let counts = tally(&gw, "/", 50).await;
    assert_eq!(counts.get("b"), Some(&50), "{counts:?}");
    assert_eq!(a.hits(), hits_before, "an unhealthy endpoint got traffic");
    assert_eq!(
        gw.metric(
            "gateway_health_transitions_total",
            &[("endpoint", "a"), ("to", "unhealthy")]
        )
        .await,
        1.0
    );

    let checks_before = a.health_checks();
    a.set_health_status(200);
    gw.wait_metric(
        "gateway_upstream_healthy",
        &[("endpoint", "a")],
        1.0,
        DEADLINE,
    )
    .await
    .unwrap();
    assert!(
        a.health_checks() - checks_before >= 2,
        "healthy again before 2 passing checks"
    );
    let counts = tally(&gw, "/", 50).await;
    assert_eq!(
        (counts.get("a"), counts.get("b")),
        (Some(&25), Some(&25)),
        "{counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_pool_serves_only_while_every_primary_is_down() {
    let p1 = MockUpstream::start("p1", Fixed::ok("p1")).await.unwrap();
    let p2 = MockUpstream::start("p2", Fixed::ok("p2")).await.unwrap();
    let bk = MockUpstream::start("bk", Fixed::ok("bk")).await.unwrap();
    let body = r#"
clusters:
  pool:
    endpoints: [ { address: "${upstream.p1}", name: p1 }, { address: "${upstream.p2}", name: p2 } ]
    backup: [ { address: "${upstream.bk}", name: bk } ]
    health_check: { kind: tcp, interval: 100ms, unhealthy_after: 2, healthy_after: 2 }
routes:
  - { name: all, match: { path_prefix: / }, cluster: pool }
"#;
    let template = Template::new(&config(body))
        .upstream("p1", p1.addr())
        .upstream("p2", p2.addr())
        .upstream("bk", bk.addr());
    let gw = start(&template).await;

    let counts = tally(&gw, "/", 20).await;
    assert_eq!(
        (counts.get("p1"), counts.get("p2")),
        (Some(&10), Some(&10)),
        "{counts:?}"
    );
    assert_eq!(bk.hits(), 0);

    p1.down().await;
    p2.down().await;
    for ep in ["p1", "p2"] {
        gw.wait_metric(
            "gateway_upstream_healthy",
            &[("endpoint", ep)],
            0.0,
            DEADLINE,
        )
        .await
        .unwrap();
    }
    let counts = tally(&gw, "/", 20).await;
    assert_eq!(counts.get("bk"), Some(&20), "{counts:?}");
    assert_eq!(
        gw.metric("gateway_failover_total", &[("cluster", "pool")])
            .await,
        20.0
    );

    p1.up().await.unwrap();
    gw.wait_metric(
        "gateway_upstream_healthy",
        &[("endpoint", "p1")],
        1.0,
        DEADLINE,
    )
    .await
    .unwrap();
    let backup_hits = bk.hits();
    let counts = tally(&gw, "/", 20).await;
    assert_eq!(counts.get("p1"), Some(&20), "{counts:?}");
    assert_eq!(
        bk.hits(),
        backup_hits,
        "the backup kept getting traffic after a primary returned"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_healthy_gives_503_not_a_hang() {
    let a = MockUpstream::start("a", Fixed::ok("a")).await.unwrap();
    let body = r#"
clusters:
  pool:
    endpoints: [ { address: "${upstream.a}", name: a } ]
    health_check: { kind: tcp, interval: 100ms, unhealthy_after: 1, healthy_after: 1 }
routes:
  - { name: all, match: { path_prefix: / }, cluster: pool }
"#;
    let gw = start(&Template::new(&config(body)).upstream("a", a.addr())).await;
    a.down().await;
    gw.wait_metric(
        "gateway_upstream_healthy",
        &[("endpoint", "a")],
        0.0,
        DEADLINE,
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let r = get(&gw, "/", &[]).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"], "no healthy upstream endpoint");
    // Generous bound: the point is "answered, not hung on the 10 s client timeout".
    assert!(started.elapsed() < Duration::from_secs(5));
    let ready = reqwest::get(gw.admin_url("/ready"))
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(ready, 503, "/ready reports that no route can be served");
}

#[tokio::test(flavor = "multi_thread")]
async fn passive_health_ejects_an_endpoint_after_consecutive_connect_failures() {
    let good = MockUpstream::start("good", Fixed::ok("good"))
        .await
        .unwrap();
    let dead = MockUpstream::start("dead", Fixed::ok("dead"))
        .await
        .unwrap();
    dead.down().await;
    let body = r#"
clusters:
  pool:
    endpoints: [ { address: "${upstream.dead}", name: dead }, { address: "${upstream.good}", name: good } ]
    passive_health: { consecutive_failures: 3, cooldown: 1h }
    retries: { attempts: 1, on: [connect_failure] }
routes:
  - { name: all, match: { path_prefix: / }, cluster: pool }
"#;
    let template = Template::new(&config(body))
        .upstream("dead", dead.addr())
        .upstream("good", good.addr());
    let gw = start(&template).await;
    let counts = tally(&gw, "/", 40).await;
    assert_eq!(counts.get("good"), Some(&40), "{counts:?}");
    let failures = gw
        .metric(
            "gateway_upstream_attempts_total",
            &[("endpoint", "dead"), ("outcome", "connect_failure")],
        )
        .await;
    assert_eq!(
        failures, 3.0,
        "the dead endpoint was tried after its ejection"
    );
    assert_eq!(
        gw.metric("gateway_upstream_healthy", &[("endpoint", "dead")])
            .await,
        0.0
    );
}

/// HTTP checks speak the cluster's protocol: an upstream that only speaks
/// h2c (prior knowledge) is checked over h2c, and a failing status still
/// takes it out.
#[tokio::test(flavor = "multi_thread")]
async fn http_checks_of_an_h2c_cluster_speak_h2c() {
    let inner = std::sync::Arc::new(Fixed::ok("h2c"));
    let up = MockUpstream::start("up", harness::upstream::H2cOnly { inner })
        .await
        .unwrap();
    let body = r#"
clusters:
  pool:
    endpoints: [ { address: "${upstream.up}", name: up } ]
    protocol: h2c
    health_check: { kind: http, path: /healthz, expect_status: 200, interval: 100ms, unhealthy_after: 1, healthy_after: 2 }
routes:
  - { name: all, match: { path_prefix: / }, cluster: pool }
"#;
    let gw = start(&Template::new(&config(body)).upstream("up", up.addr())).await;
    harness::wait::until("two passing h2c checks", DEADLINE, || async {
        (up.health_checks() >= 2).then_some(())
    })
    .await
    .unwrap();
    gw.wait_metric(
        "gateway_upstream_healthy",
        &[("endpoint", "up")],
        1.0,
        DEADLINE,
    )
    .await
    .unwrap();
    assert_eq!(get(&gw, "/x", &[]).await.status, 200);

    up.set_health_status(503);
    gw.wait_metric(
        "gateway_upstream_healthy",
        &[("endpoint", "up")],
        0.0,
        DEADLINE,
    )
    .await
    .unwrap();
}
