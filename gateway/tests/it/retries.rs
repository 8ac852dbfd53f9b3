//! Retries: connect failures and retryable statuses go to another endpoint
//! within the budget; non-idempotent requests are not retried after sending.

use crate::common::{self, config, send, start, tally};
use harness::upstream::Fixed;
use harness::{MockUpstream, Template};

fn pool(retries: &str) -> String {
    config(&format!(
        r#"
clusters:
  pool:
    endpoints: [ {{ address: "${{upstream.bad}}", name: bad }}, {{ address: "${{upstream.good}}", name: good }} ]
    passive_health: {{ consecutive_failures: 0 }}
    retries: {retries}
routes:
  - {{ name: all, match: {{ path_prefix: / }}, cluster: pool }}
"#
    ))
}

async fn refusing_and_good() -> (MockUpstream, MockUpstream, Template) {
    let bad = MockUpstream::start("bad", Fixed::ok("bad")).await.unwrap();
    bad.down().await;
    let good = MockUpstream::start("good", Fixed::ok("good"))
        .await
        .unwrap();
    let t = Template::new("")
        .upstream("bad", bad.addr())
        .upstream("good", good.addr());
    (bad, good, t)
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_failures_are_retried_on_another_endpoint() {
    let (_bad, good, template) = refusing_and_good().await;
    let gw = start(&template.with_text(&pool("{ attempts: 2, on: [connect_failure] }"))).await;
    let counts = tally(&gw, "/", 100).await;
    assert_eq!(counts.get("good"), Some(&100), "{counts:?}");
    assert_eq!(good.hits(), 100);
    let retries = gw
        .metric("gateway_retries_total", &[("cluster", "pool")])
        .await;
    let refused = gw
        .metric(
            "gateway_upstream_attempts_total",
            &[("endpoint", "bad"), ("outcome", "connect_failure")],
        )
        .await;
    eprintln!("100 requests, one endpoint refusing: {retries} retries, {refused} refused connects");
    assert!(
        retries >= 1.0,
        "round robin never chose the refusing endpoint"
    );
    assert_eq!(retries, refused, "every refused connect was retried once");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_retry_budget_refused_connects_reach_the_client_as_502() {
    let (_bad, _good, template) = refusing_and_good().await;
    let gw = start(&template.with_text(&pool("{ attempts: 0, on: [connect_failure] }"))).await;
    let counts = tally(&gw, "/", 20).await;
    assert_eq!(
        (counts.get("good"), counts.get("status:502")),
        (Some(&10), Some(&10)),
        "{counts:?}"
    );
    assert_eq!(
        gw.metric("gateway_retries_total", &[("cluster", "pool")])
            .await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retryable_statuses_are_retried_for_idempotent_methods_only() {
    let flaky = MockUpstream::start("bad", Fixed::status(503))
        .await
        .unwrap();
    let good = MockUpstream::start("good", Fixed::ok("good"))
        .await
        .unwrap();
    let template = Template::new(&pool("{ attempts: 1, on: [connect_failure, 503] }"))
        .upstream("bad", flaky.addr())
        .upstream("good", good.addr());
    let gw = start(&template).await;

    let counts = tally(&gw, "/", 20).await;
    assert_eq!(counts.get("good"), Some(&20), "GETs: {counts:?}");
    let retried = gw
        .metric(
            "gateway_upstream_attempts_total",
            &[("endpoint", "bad"), ("outcome", "retryable_status")],
        )
        .await;
    assert_eq!(retried, flaky.hits() as f64);
    assert!(retried >= 1.0);

    let client = common::client();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(
            send(&client, client.post(gw.url("/")).body("payload"))
                .await
                .status,
        );
    }
    let passed_through = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!(
        passed_through, 5,
        "POSTs are not retried after sending: {statuses:?}"
    );
}
