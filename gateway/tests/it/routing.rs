//! Routing: host, wildcard host, longest prefix, methods, prefix rewriting,
//! query edits, header rules both ways, forwarding headers and 404s.

use crate::common::{self, config, get, send, start};
use harness::upstream::{Echo, Fixed};
use harness::{MockUpstream, Template};
use std::time::Duration;

const ROUTES: &str = r#"
clusters:
  a: { endpoints: [ { address: "${upstream.a}", name: a } ] }
  b: { endpoints: [ { address: "${upstream.b}", name: b } ] }
  c: { endpoints: [ { address: "${upstream.c}", name: c } ] }
  d: { endpoints: [ { address: "${upstream.d}", name: d } ] }
  powered: { endpoints: [ { address: "${upstream.powered}", name: powered } ] }
routes:
  - name: exact-host
    match: { host: api.example.com, path_prefix: / }
    cluster: a
  - name: wildcard-host
    match: { host: "*.example.com", path_prefix: / }
    cluster: b
  - name: v1
    match: { path_prefix: /v1 }
    cluster: c
    rewrite: { strip_prefix: true }
  - name: v1-admin
    match: { path_prefix: /v1/admin }
    cluster: d
    rewrite: { replace_prefix: /internal }
  - name: submit
    match: { path_prefix: /submit, methods: [POST] }
    cluster: a
  - name: rules
    match: { path_prefix: /rules }
    cluster: a
    query: { remove: [utm_source, fbclid], set: { ref: gateway } }
    request_headers: { set: { X-Gateway: "1" }, remove: [Cookie] }
  - name: response-rules
    match: { path_prefix: /powered }
    cluster: powered
    response_headers: { set: { Strict-Transport-Security: "max-age=63072000" }, remove: [X-Powered-By] }
"#;

async fn setup() -> (Vec<MockUpstream>, harness::GatewayProcess) {
    let mut mocks = Vec::new();
    let mut template = Template::new(&config(ROUTES));
    for name in ["a", "b", "c", "d"] {
        let m = MockUpstream::start(name, Echo).await.unwrap();
        template = template.upstream(name, m.addr());
        mocks.push(m);
    }
    let powered = MockUpstream::start(
        "powered",
        Fixed {
            status: 200,
            headers: vec![("X-Powered-By".into(), "php/5".into())],
            body: "hi".into(),
        },
    )
    .await
    .unwrap();
    template = template.upstream("powered", powered.addr());
    mocks.push(powered);
    let gw = start(&template).await;
    (mocks, gw)
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_by_host_wildcard_prefix_and_method() {
    let (_mocks, gw) = setup().await;

    let r = get(&gw, "/v1/users", &[("host", "api.example.com")]).await;
    assert_eq!(
        (r.status, r.upstream()),
        (200, "a"),
        "exact host beats path-only routes"
    );

    let r = get(&gw, "/x", &[("host", "shop.example.com:8080")]).await;
    assert_eq!(
        (r.status, r.upstream()),
        (200, "b"),
        "wildcard host, port ignored"
    );

    let r = get(&gw, "/x", &[("host", "example.com")]).await;
    assert_eq!(r.status, 404, "the wildcard does not match the bare domain");

    let r = get(&gw, "/v1/users", &[]).await;
    assert_eq!((r.status, r.upstream()), (200, "c"));
    assert_eq!(r.json()["path"], "/users", "strip_prefix removes /v1");

    let r = get(&gw, "/v1/admin/stats", &[]).await;
    assert_eq!(
        (r.status, r.upstream()),
        (200, "d"),
        "the longest prefix wins"
    );
    assert_eq!(r.json()["path"], "/internal/stats");

    let client = common::client();
    let r = send(&client, client.post(gw.url("/submit")).body("x")).await;
    assert_eq!((r.status, r.upstream()), (200, "a"));
    let r = get(&gw, "/submit", &[]).await;
    assert_eq!(r.status, 404, "GET is not among the route's methods");
}

#[tokio::test(flavor = "multi_thread")]
async fn unmatched_requests_get_a_json_404_with_request_id() {
    let (mocks, gw) = setup().await;
    let r = get(&gw, "/nowhere", &[("x-request-id", "trace-42")]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["status"], 404);
    assert_eq!(body["error"], "no route matches the request");
    assert_eq!(body["request_id"], "trace-42");
    assert_eq!(mocks.iter().map(MockUpstream::hits).sum::<u64>(), 0);
    // Requests are counted in the logging phase, just after the response.
    let labels = [("route", "none"), ("status", "404")];
    gw.wait_metric(
        "gateway_requests_total",
        &labels,
        1.0,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn request_rules_query_edits_and_forwarding_headers_reach_the_upstream() {
    let (_mocks, gw) = setup().await;
    let r = get(
        &gw,
        "/rules/x?a=1&utm_source=mail&fbclid=zz&ref=old",
        &[
            ("cookie", "session=secret"),
            ("x-forwarded-for", "203.0.113.9"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = r.json();
    assert_eq!(seen["path"], "/rules/x");
    assert_eq!(seen["query"], "a=1&ref=gateway");
    let headers = &seen["headers"];
    assert_eq!(headers["x-gateway"], "1");
    assert!(
        headers.get("cookie").is_none(),
        "Cookie is removed: {headers}"
    );
    // No trusted proxies: the client's own X-Forwarded-For is replaced.
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    let id = headers["x-request-id"]
        .as_str()
        .expect("a request id is generated");
    assert_eq!(id.len(), 32);
    assert_eq!(
        r.header("x-request-id"),
        Some(id),
        "the id is echoed to the client"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn response_rules_add_hsts_and_remove_powered_by() {
    let (_mocks, gw) = setup().await;
    let r = get(&gw, "/powered", &[]).await;
    assert_eq!((r.status, r.body.as_str()), (200, "hi"));
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=63072000")
    );
    assert_eq!(r.header("x-powered-by"), None);
}
