//! `gateway_upstream_healthy` says whether an endpoint can take traffic now:
//! a rejected reload leaves it alone, it returns to 1 when a passive
//! ejection's cooldown ends, and it never reads 1 while active checks still
//! keep the endpoint out.

use crate::common::{config, get, start};
use harness::upstream::Fixed;
use harness::{metrics, wait, MockUpstream, Template};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

/// Config text for endpoints `a` and `b` with extra cluster keys and route keys.
fn text(cluster_extra: &str, route_extra: &str) -> String {
    let body = format!(
        r#"
clusters:
  pool:
    endpoints: [ {{ address: "${{upstream.a}}", name: a }}, {{ address: "${{upstream.b}}", name: b }} ]
    retries: {{ attempts: 1, on: [connect_failure] }}
{cluster_extra}
routes:
  - {{ name: all, match: {{ path_prefix: / }}, cluster: pool{route_extra} }}
"#
    );
    config(&body)
}

fn two_endpoints(a: &MockUpstream, b: &MockUpstream, cluster_extra: &str) -> Template {
    Template::new(&text(cluster_extra, ""))
        .upstream("a", a.addr())
        .upstream("b", b.addr())
}

async fn mocks() -> (MockUpstream, MockUpstream) {
    let a = MockUpstream::start("a", Fixed::ok("a")).await.unwrap();
    let b = MockUpstream::start("b", Fixed::ok("b")).await.unwrap();
    (a, b)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_reload_leaves_the_health_gauges_alone() {
    let (a, b) = mocks().await;
    a.down().await;
    let check = "    health_check: { kind: tcp, interval: 100ms, unhealthy_after: 1 }";
    let template = two_endpoints(&a, &b, check);
    let gw = start(&template).await;
    gw.wait_metric(
        "gateway_upstream_healthy",
        &[("endpoint", "a")],
        0.0,
        DEADLINE,
    )
    .await
    .unwrap();

    // The cluster changes (so it would be rebuilt) and a later step of the
    // build fails: the error page file does not exist.
    let changed = text(
        &format!("{check}\n    timeouts: {{ connect: 2s }}"),
        ", error_page: { file: missing.html }",
    );
    gw.rewrite_config(&changed).unwrap();
    let (status, body) = gw.reload().await.unwrap();
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        gw.metric("gateway_upstream_healthy", &[("endpoint", "a")])
            .await,
        0.0,
        "a rejected reload moved the live gauge"
    );
    assert_eq!(
        gw.metric("gateway_upstream_healthy", &[("endpoint", "b")])
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gauge_returns_to_1_when_a_passive_cooldown_ends_without_active_checks() {
    let (a, b) = mocks().await;
    a.down().await;
    let passive = "    passive_health: { consecutive_failures: 1, cooldown: 1s }";
    let gw = start(&two_endpoints(&a, &b, passive)).await;
    for _ in 0..4 {
        assert_eq!(get(&gw, "/", &[]).await.upstream(), "b");
    }
    assert_eq!(
        gw.metric("gateway_upstream_healthy", &[("endpoint", "a")])
            .await,
        0.0,
        "a refused connect ejected a"
    );
    // No request and no active check touches `a` any more: the gauge must
    // still come back once the cooldown has passed.
    gw.wait_metric(
        "gateway_upstream_healthy",
        &[("endpoint", "a")],
        1.0,
        DEADLINE,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gauge_reads_1_only_once_passing_checks_made_the_endpoint_selectable() {
    let (a, b) = mocks().await;
    let extra = "    health_check: { kind: tcp, interval: 100ms, unhealthy_after: 2, healthy_after: 8 }\n    passive_health: { consecutive_failures: 1 }";
    let gw = start(&two_endpoints(&a, &b, extra)).await;

    // Passive ejection first (one refused connect), then the checks mark `a`
    // unhealthy too.
    a.down().await;
    for _ in 0..4 {
        assert_eq!(get(&gw, "/", &[]).await.upstream(), "b");
    }
    gw.wait_metric(
        "gateway_health_transitions_total",
        &[("endpoint", "a"), ("to", "unhealthy")],
        1.0,
        DEADLINE,
    )
    .await
    .unwrap();
    assert_eq!(
        gw.metric("gateway_upstream_healthy", &[("endpoint", "a")])
            .await,
        0.0
    );

    // The first passing check ends the passive ejection, but `a` only becomes
    // selectable after 8 of them: each scrape that shows the gauge at 1 must
    // already count the transition to healthy (counted before the gauge moves).
    a.up().await.unwrap();
    wait::until("gateway_upstream_healthy{a} == 1", DEADLINE, || async {
        let text = gw.metrics().await;
        let gauge = metrics::value(&text, "gateway_upstream_healthy", &[("endpoint", "a")]);
        let healthy = metrics::value(
            &text,
            "gateway_health_transitions_total",
            &[("endpoint", "a"), ("to", "healthy")],
        )
        .unwrap_or(0.0);
        if gauge == Some(1.0) {
            assert_eq!(healthy, 1.0, "the gauge read 1 before a was selectable");
            return Some(());
        }
        None
    })
    .await
    .unwrap();
}
