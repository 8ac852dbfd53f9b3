//! Rate and concurrency limits on the real binary: 429 with `Retry-After`
//! and `RateLimit` headers on a kept-alive connection, 503 at the in-flight
//! limit with slots given back when a client goes away, keys that combine
//! a header and the route, and what a reload keeps.

use crate::common::raw::{RawConn, RawResponse, EXCHANGE_DEADLINE};
use crate::common::{config, start};
use harness::upstream::{Fixed, Slow};
use harness::{wait, MockUpstream, Template};
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

fn get(path: &str, client: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nx-client: {client}\r\n\r\n").into_bytes()
}

async fn status_of(conn: &mut RawConn, path: &str, client: &str) -> u16 {
    assert!(conn.send(&get(path, client)).await, "connection closed");
    conn.response(EXCHANGE_DEADLINE)
        .await
        .unwrap_or_else(|| panic!("no response to {path} for {client}"))
        .status
}

/// Two requests from `client` pass on `conn` and the third is refused with
/// 429; returns that response and its `Retry-After` in seconds. The
/// connection stays open.
async fn third_request_refused(conn: &mut RawConn, client: &str) -> (RawResponse, u64) {
    assert_eq!(status_of(conn, "/", client).await, 200);
    assert_eq!(status_of(conn, "/", client).await, 200);
    assert!(conn.send(&get("/", client)).await);
    let refused = conn.response(EXCHANGE_DEADLINE).await.expect("a response");
    assert_eq!(refused.status, 429, "{}", refused.head);
    let retry_after: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric Retry-After: {}", refused.head));
    (refused, retry_after)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_over_its_rate_gets_429_with_retry_after_and_ratelimit_headers() {
    let up = MockUpstream::start("api", Fixed::ok("ok")).await.unwrap();
    let body = r#"
clusters:
  api: { endpoints: [ { address: "${upstream.api}" } ] }
routes:
  - name: limited
    match: { path_prefix: / }
    cluster: api
    limits: { gcra: { key: "header:x-client", rate: 1/min, burst: 2 } }
"#;
    let gw = start(&Template::new(&config(body)).upstream("api", up.addr())).await;
    let mut conn = RawConn::connect(gw.proxy_addr()).await;
    // The third request of the burst on the same connection is refused,
    // and the connection stays open for the next one.
    let (refused, retry_after) = third_request_refused(&mut conn, "a").await;
    // One request per minute: the next is allowed about 60 s after the first.
    assert!(
        (55..=60).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_eq!(
        refused.header("ratelimit-policy"),
        Some("\"limited\";q=2;w=120")
    );
    let ratelimit = refused.header("ratelimit").unwrap_or_default();
    assert!(ratelimit.starts_with("\"limited\";r=0;t="), "{ratelimit}");
    let json: serde_json::Value = serde_json::from_slice(&refused.body).expect("JSON body");
    assert_eq!(json["status"], 429, "{json}");
    assert!(json["request_id"].as_str().is_some_and(|id| !id.is_empty()));

    // Another client has its own budget, on the same connection.
    assert_eq!(status_of(&mut conn, "/", "b").await, 200);
    assert_eq!(
        up.hits(),
        3,
        "the refused request never reached the upstream"
    );
    gw.wait_metric(
        "gateway_ratelimit_rejections_total",
        &[("route", "limited"), ("limiter", "gcra")],
        1.0,
        DEADLINE,
    )
    .await
    .unwrap();
    gw.wait_metric("gateway_ratelimit_keys", &[], 2.0, DEADLINE)
        .await
        .unwrap();
    // A refusal is an answer, not a failure: nothing is error-logged.
    let log = gw.log();
    assert!(
        !log.lines().any(|l| l.contains("ERROR")),
        "error lines in the log:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_of_header_and_route_gives_each_pair_its_own_budget() {
    let up = MockUpstream::start("api", Fixed::ok("ok")).await.unwrap();
    let body = r#"
limits: { gcra: { key: "header:x-client+route", rate: 1/min, burst: 1 } }
clusters:
  api: { endpoints: [ { address: "${upstream.api}" } ] }
routes:
  - { name: one, match: { path_prefix: /one }, cluster: api }
  - { name: two, match: { path_prefix: /two }, cluster: api }
"#;
    let gw = start(&Template::new(&config(body)).upstream("api", up.addr())).await;
    let mut conn = RawConn::connect(gw.proxy_addr()).await;
    assert_eq!(status_of(&mut conn, "/one", "a").await, 200);
    assert_eq!(status_of(&mut conn, "/one", "a").await, 429);
    assert_eq!(status_of(&mut conn, "/two", "a").await, 200);
    assert_eq!(status_of(&mut conn, "/one", "b").await, 200);
    assert_eq!(status_of(&mut conn, "/two", "a").await, 429);
    assert_eq!(status_of(&mut conn, "/two", "b").await, 200);
    gw.wait_metric(
        "gateway_ratelimit_rejections_total",
        &[("limiter", "gcra")],
        2.0,
        DEADLINE,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_in_flight_limit_requests_get_503_until_a_slot_comes_back_also_from_a_client_that_left(
) {
    let slow = Slow {
        delay: Duration::from_secs(60),
        then: Arc::new(Fixed::ok("late")),
    };
    let up = MockUpstream::start("slow", slow).await.unwrap();
    let body = r#"
clusters:
  api: { endpoints: [ { address: "${upstream.slow}" } ], timeouts: { read: 90s } }
routes:
  - { name: slow, match: { path_prefix: / }, cluster: api, limits: { in_flight: 1 } }
"#;
    let gw = start(&Template::new(&config(body)).upstream("slow", up.addr())).await;
    let mut first = RawConn::connect(gw.proxy_addr()).await;
    assert!(first.send(&get("/", "a")).await);
    wait::until(
        "the first request reached the upstream",
        DEADLINE,
        || async { (up.hits() == 1).then_some(()) },
    )
    .await
    .unwrap();
    gw.wait_metric(
        "gateway_inflight_requests",
        &[("route", "slow")],
        1.0,
        DEADLINE,
    )
    .await
    .unwrap();

    let mut second = RawConn::connect(gw.proxy_addr()).await;
    assert!(second.send(&get("/", "b")).await);
    let refused = second
        .response(EXCHANGE_DEADLINE)
        .await
        .expect("a response");
    assert_eq!(refused.status, 503, "{}", refused.head);
    let json: serde_json::Value = serde_json::from_slice(&refused.body).expect("JSON body");
    assert_eq!(json["error"], "too many requests in flight", "{json}");
    assert_eq!(
        up.hits(),
        1,
        "the refused request never reached the upstream"
    );
    gw.wait_metric(
        "gateway_inflight_rejections_total",
        &[("route", "slow")],
        1.0,
        DEADLINE,
    )
    .await
    .unwrap();

    // The first client goes away: its slot comes back.
    drop(first);
    gw.wait_metric(
        "gateway_inflight_requests",
        &[("route", "slow")],
        0.0,
        DEADLINE,
    )
    .await
    .unwrap();
    assert!(
        second.send(&get("/", "b")).await,
        "the 503 kept the connection"
    );
    wait::until(
        "the next request reached the upstream",
        DEADLINE,
        || async { (up.hits() == 2).then_some(()) },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_limit_counts_the_requests_of_all_its_routes() {
    let slow = Slow {
        delay: Duration::from_secs(60),
        then: Arc::new(Fixed::ok("late")),
    };
    let up = MockUpstream::start("slow", slow).await.unwrap();
    let body = r#"
clusters:
  api:
    endpoints: [ { address: "${upstream.slow}" } ]
    timeouts: { read: 90s }
    limits: { in_flight: 1 }
routes:
  - { name: one, match: { path_prefix: /one }, cluster: api }
  - { name: two, match: { path_prefix: /two }, cluster: api }
"#;
    let gw = start(&Template::new(&config(body)).upstream("slow", up.addr())).await;
    let mut first = RawConn::connect(gw.proxy_addr()).await;
    assert!(first.send(&get("/one", "a")).await);
    wait::until(
        "the first request reached the upstream",
        DEADLINE,
        || async { (up.hits() == 1).then_some(()) },
    )
    .await
    .unwrap();
    let mut second = RawConn::connect(gw.proxy_addr()).await;
    assert_eq!(status_of(&mut second, "/two", "b").await, 503);
    drop(first);
    gw.wait_metric(
        "gateway_inflight_requests",
        &[("route", "one")],
        0.0,
        DEADLINE,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_keeps_an_unchanged_rate_limit_and_resets_a_changed_one() {
    let up = MockUpstream::start("api", Fixed::ok("ok")).await.unwrap();
    let with = |burst: u32, header: &str| {
        config(&format!(
            r#"
clusters:
  api: {{ endpoints: [ {{ address: "${{upstream.api}}" }} ] }}
routes:
  - name: limited
    match: {{ path_prefix: / }}
    cluster: api
    response_headers: {{ set: {{ x-generation: "{header}" }} }}
    limits: {{ gcra: {{ key: "header:x-client", rate: 1/min, burst: {burst} }} }}
"#
        ))
    };
    let gw = start(&Template::new(&with(1, "one")).upstream("api", up.addr())).await;
    let mut conn = RawConn::connect(gw.proxy_addr()).await;
    assert_eq!(status_of(&mut conn, "/", "a").await, 200);
    assert_eq!(status_of(&mut conn, "/", "a").await, 429);

    // Another setting of the route changes; the limit does not: client a
    // is still out of budget.
    gw.rewrite_config(&with(1, "two")).unwrap();
    let (status, body) = gw.reload().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(conn.send(&get("/", "b")).await);
    let reply = conn.response(EXCHANGE_DEADLINE).await.expect("a response");
    assert_eq!(reply.header("x-generation"), Some("two"), "reload applied");
    assert_eq!(status_of(&mut conn, "/", "a").await, 429);

    // A new burst is a new policy: its state starts empty.
    gw.rewrite_config(&with(2, "three")).unwrap();
    let (status, body) = gw.reload().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(status_of(&mut conn, "/", "a").await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_refuses_past_max_with_its_own_policy_headers() {
    let up = MockUpstream::start("api", Fixed::ok("ok")).await.unwrap();
    let body = r#"
clusters:
  api: { endpoints: [ { address: "${upstream.api}" } ] }
routes:
  - name: counted
    match: { path_prefix: / }
    cluster: api
    limits: { window: { key: "header:x-client", max: 2, per: 60s } }
"#;
    let gw = start(&Template::new(&config(body)).upstream("api", up.addr())).await;
    let mut conn = RawConn::connect(gw.proxy_addr()).await;
    let (refused, retry_after) = third_request_refused(&mut conn, "a").await;
    // The window frees room within two windows at most.
    assert!(
        (1..=120).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_eq!(
        refused.header("ratelimit-policy"),
        Some("\"counted/window\";q=2;w=60")
    );
    assert_eq!(status_of(&mut conn, "/", "b").await, 200);
    gw.wait_metric(
        "gateway_ratelimit_rejections_total",
        &[("route", "counted"), ("limiter", "window")],
        1.0,
        DEADLINE,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_in_flight_before_a_reload_count_against_the_new_limit() {
    let slow = Slow {
        delay: Duration::from_secs(60),
        then: Arc::new(Fixed::ok("late")),
    };
    let up = MockUpstream::start("slow", slow).await.unwrap();
    let with = |limit: u32| {
        config(&format!(
            r#"
clusters:
  api: {{ endpoints: [ {{ address: "${{upstream.slow}}" }} ], timeouts: {{ read: 90s }} }}
routes:
  - {{ name: slow, match: {{ path_prefix: / }}, cluster: api, limits: {{ in_flight: {limit} }} }}
"#
        ))
    };
    let gw = start(&Template::new(&with(1)).upstream("slow", up.addr())).await;
    let mut first = RawConn::connect(gw.proxy_addr()).await;
    assert!(first.send(&get("/", "a")).await);
    wait::until(
        "the first request reached the upstream",
        DEADLINE,
        || async { (up.hits() == 1).then_some(()) },
    )
    .await
    .unwrap();

    gw.rewrite_config(&with(2)).unwrap();
    let (status, body) = gw.reload().await.unwrap();
    assert_eq!(status, 200, "{body}");
    // The first request still holds one of the two slots.
    let mut second = RawConn::connect(gw.proxy_addr()).await;
    assert!(second.send(&get("/", "b")).await);
    wait::until(
        "the second request reached the upstream",
        DEADLINE,
        || async { (up.hits() == 2).then_some(()) },
    )
    .await
    .unwrap();
    let mut third = RawConn::connect(gw.proxy_addr()).await;
    assert_eq!(status_of(&mut third, "/", "c").await, 503);
    gw.wait_metric(
        "gateway_inflight_requests",
        &[("route", "slow")],
        2.0,
        DEADLINE,
    )
    .await
    .unwrap();
    drop((first, second));
    gw.wait_metric(
        "gateway_inflight_requests",
        &[("route", "slow")],
        0.0,
        DEADLINE,
    )
    .await
    .unwrap();
}
