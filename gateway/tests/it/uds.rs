//! Unix socket upstreams (`unix:/abs/path` endpoints): HTTP/1.1 and h2c,
//! TCP and HTTP health checks over the socket, consistent hashing, config
//! errors; and HTTP health checks over TLS with the cluster's TLS settings.

use crate::common::{self, config, get, start};
use gateway::config::parse;
use harness::certs::TestCerts;
use harness::upstream::{Echo, Fixed, H2cOnly, Mtls};
use harness::{Behaviour, GatewayProcess, MockUpstream, Template};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

async fn unix_mock(dir: &Path, name: &str, behaviour: impl Behaviour) -> MockUpstream {
    let path = dir.join(format!("{name}.sock"));
    MockUpstream::start_unix(name, Arc::new(behaviour), &path)
        .await
        .unwrap()
}

fn with_mocks(body: &str, mocks: &[&MockUpstream]) -> Template {
    mocks.iter().fold(Template::new(&config(body)), |t, m| {
        t.var(&format!("upstream.{}", m.name()), &m.endpoint_address())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn http1_reaches_an_endpoint_on_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let app = unix_mock(dir.path(), "app", Echo).await;
    assert!(app.endpoint_address().starts_with("unix:/"));
    let body = r#"
clusters:
  local: { endpoints: [ { address: "${upstream.app}" } ] }
routes:
  - { name: all, match: { path_prefix: / }, cluster: local }
"#;
    let gw = start(&with_mocks(body, &[&app])).await;
    for _ in 0..3 {
        let r = get(&gw, "/hello", &[]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.upstream(), "app");
        assert_eq!(r.json()["version"], "HTTP/1.1");
        assert_eq!(r.json()["path"], "/hello");
    }
    assert_eq!(app.hits(), 3);
    // Without a name the endpoint is labelled by its address.
    let attempts = gw
        .metric(
            "gateway_upstream_attempts_total",
            &[
                ("endpoint", app.endpoint_address().as_str()),
                ("outcome", "success"),
            ],
        )
        .await;
    assert_eq!(attempts, 3.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn h2c_reaches_an_endpoint_on_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let app = unix_mock(
        dir.path(),
        "app",
        H2cOnly {
            inner: Arc::new(Fixed::ok("over h2c")),
        },
    )
    .await;
    let body = r#"
clusters:
  local: { endpoints: [ { address: "${upstream.app}", name: app } ], protocol: h2c }
routes:
  - { name: all, match: { path_prefix: / }, cluster: local }
"#;
    let gw = start(&with_mocks(body, &[&app])).await;
    let r = get(&gw, "/", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "over h2c");
    assert_eq!(r.header("x-upstream-protocol"), Some("h2c"));
}

/// Two Unix socket endpoints with `check` as their cluster's health check.
fn two_sockets(a: &MockUpstream, b: &MockUpstream, check: &str) -> Template {
    let body = format!(
        r#"
clusters:
  local:
    endpoints: [ {{ address: "${{upstream.a}}", name: a }}, {{ address: "${{upstream.b}}", name: b }} ]
    health_check: {check}
routes:
  - {{ name: all, match: {{ path_prefix: / }}, cluster: local }}
"#
    );
    with_mocks(&body, &[a, b])
}

async fn wait_healthy(gw: &GatewayProcess, endpoint: &str, healthy: bool) {
    let want = if healthy { 1.0 } else { 0.0 };
    gw.wait_metric(
        "gateway_upstream_healthy",
        &[("cluster", "local"), ("endpoint", endpoint)],
        want,
        DEADLINE,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tcp_check_marks_a_unix_socket_down_when_it_goes_away_and_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let a = unix_mock(dir.path(), "a", Fixed::ok("a")).await;
    let b = unix_mock(dir.path(), "b", Fixed::ok("b")).await;
    let check = "{ kind: tcp, interval: 100ms, unhealthy_after: 1, healthy_after: 1 }";
    let gw = start(&two_sockets(&a, &b, check)).await;
    wait_healthy(&gw, "a", true).await;

    a.down().await;
    assert!(!a.unix_path().unwrap().exists(), "the socket file is gone");
    wait_healthy(&gw, "a", false).await;
    let served = common::tally(&gw, "/", 10).await;
    assert_eq!(served.get("b"), Some(&10), "{served:?}");

    a.up().await.unwrap();
    wait_healthy(&gw, "a", true).await;
    let served = common::tally(&gw, "/", 10).await;
    assert_eq!(served.get("a"), Some(&5), "{served:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_check_goes_over_the_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let a = unix_mock(dir.path(), "a", Fixed::ok("a")).await;
    let b = unix_mock(dir.path(), "b", Fixed::ok("b")).await;
    let check =
        "{ kind: http, path: /healthz, interval: 100ms, unhealthy_after: 1, healthy_after: 1 }";
    let gw = start(&two_sockets(&a, &b, check)).await;
    harness::wait::until("a health check on a", DEADLINE, || async {
        (a.health_checks() > 0).then_some(())
    })
    .await
    .unwrap();

    a.set_health_status(503);
    wait_healthy(&gw, "a", false).await;
    wait_healthy(&gw, "b", true).await;
    a.set_health_status(200);
    wait_healthy(&gw, "a", true).await;
    assert_eq!(
        a.hits() + b.hits(),
        0,
        "health checks are not counted as hits"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn consistent_hashing_spreads_keys_over_unix_sockets_and_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let a = unix_mock(dir.path(), "a", Fixed::ok("a")).await;
    let b = unix_mock(dir.path(), "b", Fixed::ok("b")).await;
    let body = r#"
clusters:
  local:
    endpoints: [ { address: "${upstream.a}", name: a }, { address: "${upstream.b}", name: b } ]
    balance: { consistent_hash: { key: "header:x-user" } }
routes:
  - { name: all, match: { path_prefix: / }, cluster: local }
"#;
    let gw = start(&with_mocks(body, &[&a, &b])).await;
    let mut seen = BTreeSet::new();
    for user in 0..40 {
        let user = format!("user-{user}");
        let first = get(&gw, "/", &[("x-user", &user)]).await;
        assert_eq!(first.status, 200, "{}", first.body);
        let again = get(&gw, "/", &[("x-user", &user)]).await;
        assert_eq!(first.upstream(), again.upstream(), "{user} moved");
        seen.insert(first.upstream().to_string());
    }
    assert_eq!(seen.len(), 2, "every key went to {seen:?}");
}

fn cluster_error(endpoints: &str, extra: &str) -> String {
    let yaml = config(&format!(
        "clusters:\n  local:\n    endpoints: {endpoints}\n{extra}routes:\n  - {{ match: {{ path_prefix: / }}, cluster: local }}\n"
    ))
    .replace("${port.proxy}", "6188")
    .replace("${port.admin}", "6189");
    match parse(&yaml, "uds.yaml", &|_| None) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unix_socket_paths_must_be_absolute_and_plaintext() {
    assert_eq!(
        cluster_error(r#"[ { address: "unix:/run/app.sock" } ]"#, ""),
        ""
    );
    let relative = cluster_error(
        r#"[ { address: "127.0.0.1:3001" }, { address: "unix:run/app.sock" } ]"#,
        "",
    );
    assert!(
        relative.contains("gateway.clusters.local.endpoints[1].address")
            && relative.contains("`unix:run/app.sock` is a relative path")
            && relative.contains("absolute path"),
        "{relative}"
    );
    let on_tls = cluster_error(r#"[ { address: "unix:/run/app.sock" } ]"#, "    tls: {}\n");
    assert!(
        on_tls.contains("gateway.clusters.local.endpoints[0].address")
            && on_tls.contains("TLS over Unix sockets is not supported"),
        "{on_tls}"
    );
    let twice = cluster_error(
        r#"[ { address: "unix:/run/app.sock", name: a }, { address: "unix:/run/app.sock", name: b } ]"#,
        "",
    );
    assert!(twice.contains("appears twice"), "{twice}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_check_on_a_tls_cluster_uses_its_tls_settings() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::generate(dir.path()).unwrap();
    let mtls = MockUpstream::start("mtls", Mtls::new(&certs, Arc::new(Echo)))
        .await
        .unwrap();
    let body = r#"
clusters:
  trusted:
    endpoints: [ { address: "${upstream.mtls}", name: mtls } ]
    tls: { ca: "${certs.ca}", client_cert: "${certs.client_cert}", client_key: "${certs.client_key}" }
    health_check: { kind: http, path: /healthz, interval: 100ms, unhealthy_after: 1, healthy_after: 1 }
  untrusted:
    endpoints: [ { address: "${upstream.mtls}", name: mtls } ]
    tls: { ca: "${certs.other_ca}", client_cert: "${certs.client_cert}", client_key: "${certs.client_key}" }
    health_check: { kind: http, path: /healthz, interval: 100ms, unhealthy_after: 1, healthy_after: 1 }
routes:
  - { name: trusted, match: { path_prefix: /trusted/ }, cluster: trusted }
  - { name: untrusted, match: { path_prefix: /untrusted/ }, cluster: untrusted }
"#;
    let template = certs
        .vars()
        .into_iter()
        .fold(Template::new(&config(body)), |t, (k, v)| t.var(k, &v))
        .upstream("mtls", mtls.addr());
    let gw = start(&template).await;

    let healthy = |cluster: &'static str, want: f64| {
        let gw = &gw;
        async move {
            gw.wait_metric(
                "gateway_upstream_healthy",
                &[("cluster", cluster), ("endpoint", "mtls")],
                want,
                DEADLINE,
            )
            .await
            .unwrap()
        }
    };
    // A certificate from a CA the cluster does not trust fails the check.
    healthy("untrusted", 0.0).await;
    let transitions = gw
        .metric(
            "gateway_health_transitions_total",
            &[("cluster", "untrusted"), ("to", "unhealthy")],
        )
        .await;
    assert_eq!(transitions, 1.0);
    // The right CA and client certificate pass, over TLS: the mock answers
    // health checks only after a completed handshake.
    harness::wait::until("a health check over TLS", DEADLINE, || async {
        (mtls.health_checks() > 0).then_some(())
    })
    .await
    .unwrap();
    healthy("trusted", 1.0).await;
    mtls.set_health_status(503);
    healthy("trusted", 0.0).await;
    assert_eq!(get(&gw, "/untrusted/x", &[]).await.status, 503);
}
