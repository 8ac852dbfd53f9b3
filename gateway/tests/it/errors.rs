//! Errors the gateway produces: upstream timeouts are 504, refused
//! upstreams 502, both as JSON or through a route's error page template.

use crate::common::{config, get, start};
use harness::upstream::{Fixed, Slow};
use harness::{MockUpstream, Template};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_read_timeout_is_a_504_and_a_refused_upstream_a_502_with_a_template() {
    let slow = MockUpstream::start(
        "slow",
        Slow {
            delay: Duration::from_secs(3),
            then: std::sync::Arc::new(Fixed::ok("late")),
        },
    )
    .await
    .unwrap();
    let dead = MockUpstream::start("dead", Fixed::ok("dead"))
        .await
        .unwrap();
    dead.down().await;
    let page =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pages/error.html");
    let body = format!(
        r#"
clusters:
  slow:
    endpoints: [ {{ address: "${{upstream.slow}}", name: slow }} ]
    timeouts: {{ read: 300ms }}
    retries: {{ attempts: 0 }}
  dead:
    endpoints: [ {{ address: "${{upstream.dead}}", name: dead }} ]
    retries: {{ attempts: 0 }}
routes:
  - {{ name: slow, match: {{ path_prefix: /slow }}, cluster: slow }}
  - name: dead
    match: {{ path_prefix: /dead }}
    cluster: dead
    error_page: {{ file: "{}", content_type: text/html }}
"#,
        page.display()
    );
    let gw = start(
        &Template::new(&config(&body))
            .upstream("slow", slow.addr())
            .upstream("dead", dead.addr()),
    )
    .await;

    let r = get(&gw, "/slow", &[]).await;
    assert_eq!(r.status, 504, "{}", r.body);
    assert_eq!(r.json()["error"], "upstream timed out");
    assert_eq!(r.json()["request_id"], r.header("x-request-id").unwrap());

    let r = get(&gw, "/dead", &[("x-request-id", "req-7")]).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert!(
        r.body.contains("<h1>502: upstream failed</h1>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("Request id: req-7"), "{}", r.body);

    // Requests are counted in the logging phase, just after the response.
    for (route, status) in [("slow", "504"), ("dead", "502")] {
        let labels = [("route", route), ("status", status)];
        gw.wait_metric(
            "gateway_requests_total",
            &labels,
            1.0,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    }
}
