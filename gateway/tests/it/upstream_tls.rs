//! TLS toward upstreams: mutual TLS with a client certificate, per-cluster
//! CA, server name and verification switches, HTTP/2 by ALPN, and config
//! errors for unreadable or unusable PEM files.

use crate::common::{config, get, start};
use gateway::config::parse;
use harness::certs::{TestCerts, CLIENT_CN};
use harness::upstream::{Echo, Fixed, Mtls, CLIENT_CN_HEADER};
use harness::{MockUpstream, Template};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A gateway error must come back well before the client's 10 s timeout.
const PROMPT: Duration = Duration::from_secs(5);

const CLUSTERS: &str = r#"
clusters:
  good:
    endpoints: [ { address: "${upstream.mtls}", name: mtls } ]
    tls: { ca: "${certs.ca}", client_cert: "${certs.client_cert}", client_key: "${certs.client_key}" }
  wrong_ca:
    endpoints: [ { address: "${upstream.mtls}", name: mtls } ]
    tls: { ca: "${certs.other_ca}", client_cert: "${certs.client_cert}", client_key: "${certs.client_key}" }
    retries: { attempts: 0 }
  no_client_cert:
    endpoints: [ { address: "${upstream.mtls}", name: mtls } ]
    tls: { ca: "${certs.ca}" }
    retries: { attempts: 0 }
  by_name:
    endpoints: [ { address: "${upstream.mtls}", name: mtls } ]
    tls: { sni: localhost, ca: "${certs.ca}", client_cert: "${certs.client_cert}", client_key: "${certs.client_key}" }
  wrong_name:
    endpoints: [ { address: "${upstream.mtls}", name: mtls } ]
    tls: { sni: other.example, ca: "${certs.ca}", client_cert: "${certs.client_cert}", client_key: "${certs.client_key}" }
    retries: { attempts: 0 }
  any_name:
    endpoints: [ { address: "${upstream.mtls}", name: mtls } ]
    tls: { sni: other.example, verify_hostname: false, ca: "${certs.ca}", client_cert: "${certs.client_cert}", client_key: "${certs.client_key}" }
  unverified:
    endpoints: [ { address: "${upstream.mtls}", name: mtls } ]
    tls: { verify: false, ca: "${certs.other_ca}", client_cert: "${certs.client_cert}", client_key: "${certs.client_key}" }
  h2:
    endpoints: [ { address: "${upstream.mtls}", name: mtls } ]
    protocol: h2
    tls: { ca: "${certs.ca}", client_cert: "${certs.client_cert}", client_key: "${certs.client_key}" }
routes:
"#;

const ROUTED: [&str; 8] = [
    "good",
    "wrong_ca",
    "no_client_cert",
    "by_name",
    "wrong_name",
    "any_name",
    "unverified",
    "h2",
];

fn template(certs: &TestCerts, upstream: &MockUpstream) -> Template {
    let mut body = CLUSTERS.to_string();
    for name in ROUTED {
        body.push_str(&format!(
            "  - {{ name: {name}, match: {{ path_prefix: /{name}/ }}, cluster: {name} }}\n"
        ));
    }
    certs
        .vars()
        .into_iter()
        .fold(Template::new(&config(&body)), |t, (k, v)| t.var(k, &v))
        .upstream("mtls", upstream.addr())
}

#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls_needs_the_right_ca_and_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::generate(dir.path()).unwrap();
    let mtls = MockUpstream::start("mtls", Mtls::new(&certs, Arc::new(Echo)))
        .await
        .unwrap();
    let gw = start(&template(&certs, &mtls)).await;

    let r = get(&gw, "/good/x", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.upstream(), "mtls");
    assert_eq!(r.header(CLIENT_CN_HEADER), Some(CLIENT_CN));
    assert_eq!(r.json()["version"], "HTTP/1.1");
    assert_eq!(mtls.hits(), 1);

    // The good cluster's pooled connection must not serve these clusters.
    for cluster in ["wrong_ca", "no_client_cert", "wrong_name"] {
        let started = Instant::now();
        let r = get(&gw, &format!("/{cluster}/x"), &[]).await;
        assert_eq!(r.status, 502, "{cluster}: {}", r.body);
        assert_eq!(r.json()["error"], "upstream failed", "{cluster}");
        assert!(
            started.elapsed() < PROMPT,
            "{cluster}: answered after {:?}",
            started.elapsed()
        );
    }
    assert_eq!(mtls.hits(), 1, "no failed handshake reached the upstream");
    for (cluster, outcome) in [
        ("wrong_ca", "connect_failure"),
        ("wrong_name", "connect_failure"),
        // Under TLS 1.3 the server refuses the missing certificate only
        // after the client sent its request.
        ("no_client_cert", "error"),
    ] {
        let attempts = gw
            .metric(
                "gateway_upstream_attempts_total",
                &[("cluster", cluster), ("outcome", outcome)],
            )
            .await;
        assert_eq!(
            attempts,
            1.0,
            "{cluster}: {}",
            gw.series("gateway_upstream_attempts_total").await
        );
    }

    for cluster in ["by_name", "any_name", "unverified"] {
        let r = get(&gw, &format!("/{cluster}/x"), &[]).await;
        assert_eq!(r.status, 200, "{cluster}: {}", r.body);
        assert_eq!(r.header(CLIENT_CN_HEADER), Some(CLIENT_CN), "{cluster}");
    }

    let r = get(&gw, "/h2/x", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], "HTTP/2.0", "h2 is negotiated by ALPN");
    assert_eq!(r.header(CLIENT_CN_HEADER), Some(CLIENT_CN));
    assert_eq!(mtls.hits(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_picks_up_replaced_certificate_files() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::generate(dir.path()).unwrap();
    let mtls = MockUpstream::start("mtls", Mtls::new(&certs, Arc::new(Fixed::ok("ok"))))
        .await
        .unwrap();
    let trusted = dir.path().join("trusted.pem");
    std::fs::copy(certs.other_ca(), &trusted).unwrap();
    let body = r#"
clusters:
  api:
    endpoints: [ { address: "${upstream.mtls}", name: mtls } ]
    tls: { ca: "${trusted}", client_cert: "${certs.client_cert}", client_key: "${certs.client_key}" }
    retries: { attempts: 0 }
    passive_health: { consecutive_failures: 0 }
routes:
  - { name: api, match: { path_prefix: / }, cluster: api }
"#;
    let template = certs
        .vars()
        .into_iter()
        .fold(Template::new(&config(body)), |t, (k, v)| t.var(k, &v))
        .var("trusted", &trusted.display().to_string())
        .upstream("mtls", mtls.addr());
    let gw = start(&template).await;
    assert_eq!(get(&gw, "/", &[]).await.status, 502);

    std::fs::copy(certs.ca(), &trusted).unwrap();
    let (status, body) = gw.reload().await.unwrap();
    assert_eq!((status, body["result"].as_str()), (200, Some("applied")));
    let r = get(&gw, "/", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header(CLIENT_CN_HEADER), Some(CLIENT_CN));

    std::fs::write(&trusted, "not a certificate").unwrap();
    let (status, body) = gw.reload().await.unwrap();
    assert_eq!(status, 422, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("gateway.clusters.api.tls.ca: no certificate found"),
        "{error}"
    );
    assert_eq!(
        get(&gw, "/", &[]).await.status,
        200,
        "the old generation keeps serving"
    );
}

/// A config whose TLS files are relative to its own directory.
fn tls_config(tls: &str) -> String {
    format!(
        r#"
version: 1
gateway:
  listeners: [ {{ address: "127.0.0.1:6188" }} ]
  clusters:
    api:
      endpoints: [ {{ address: "127.0.0.1:3001" }} ]
      tls: {tls}
  routes:
    - {{ match: {{ path_prefix: / }}, cluster: api }}
"#
    )
}

/// `gateway -t` on `text` written next to the certificates: exit code and
/// stderr.
fn check(dir: &Path, text: &str) -> (Option<i32>, String) {
    let file = dir.join("gateway.yaml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["-t", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unreadable_or_unusable_tls_files_are_refused_with_their_key_path() {
    let dir = tempfile::tempdir().unwrap();
    TestCerts::generate(dir.path()).unwrap();
    let client = "client_cert: client.pem, client_key: client-key.pem";

    let (code, stderr) = check(
        dir.path(),
        &tls_config(&format!("{{ ca: ca.pem, {client} }}")),
    );
    assert_eq!(
        code,
        Some(0),
        "relative paths resolve next to the config: {stderr}"
    );

    let cases = [
        (
            "{ ca: missing/ca.pem }".to_string(),
            "gateway.clusters.api.tls.ca: cannot read `",
            "missing/ca.pem",
        ),
        (
            "{ ca: client-key.pem }".to_string(),
            "gateway.clusters.api.tls.ca: no certificate found in `",
            "client-key.pem",
        ),
        (
            "{ ca: gateway.yaml }".to_string(),
            "gateway.clusters.api.tls.ca: no certificate found in `",
            "gateway.yaml",
        ),
        (
            "{ client_cert: client.pem, client_key: client.pem }".to_string(),
            "gateway.clusters.api.tls.client_key: no private key found in `",
            "client.pem",
        ),
        (
            "{ client_cert: client.pem, client_key: server-key.pem }".to_string(),
            "gateway.clusters.api.tls.client_key: `",
            "cannot be used with",
        ),
        (
            format!("{{ sni: \"a..b\", {client} }}"),
            "gateway.clusters.api.tls.sni: `a..b` is not a valid server name",
            "",
        ),
    ];
    for (tls, at, detail) in cases {
        let (code, stderr) = check(dir.path(), &tls_config(&tls));
        assert_eq!(code, Some(1), "{tls} was accepted");
        assert!(stderr.contains(at), "{tls}: {stderr}");
        assert!(stderr.contains(detail), "{tls}: {stderr}");
        assert!(!stderr.contains("panicked"), "{tls}: {stderr}");
    }
}

#[test]
fn tls_keys_are_validated_with_the_protocol() {
    let error_for = |tls: &str, protocol: &str| {
        let yaml = tls_config(tls).replace(
            "      tls:",
            &format!("      protocol: {protocol}\n      tls:"),
        );
        match parse(&yaml, "t.yaml", &|_| None) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    };
    assert_eq!(error_for("{ ca: ca.pem }", "h2"), "");
    assert_eq!(error_for("{ ca: ca.pem }", "http1"), "");
    let cases = [
        (
            "null",
            "h2",
            "gateway.clusters.api.protocol: `h2` is HTTP/2 over TLS",
        ),
        (
            "{}",
            "h2c",
            "gateway.clusters.api.protocol: `h2c` is plaintext HTTP/2",
        ),
        (
            "{ client_cert: c.pem }",
            "http1",
            "gateway.clusters.api.tls.client_key: client_cert needs client_key",
        ),
        (
            "{ client_key: k.pem }",
            "http1",
            "gateway.clusters.api.tls.client_cert: client_key needs client_cert",
        ),
        ("{ sni: \"\" }", "http1", "gateway.clusters.api.tls.sni:"),
        (
            "{ ca: \"\" }",
            "http1",
            "gateway.clusters.api.tls.ca: expected a file path",
        ),
        (
            "{ verify: yes_please }",
            "http1",
            "gateway.clusters.api.tls.verify:",
        ),
        ("{ cert: c.pem }", "http1", "unknown field `cert`"),
    ];
    for (tls, protocol, want) in cases {
        let got = error_for(tls, protocol);
        assert!(got.contains(want), "{tls} / {protocol}: {got}");
    }

    // HTTP checks speak the cluster's protocol over its TLS.
    let with_http_check = |protocol: &str| {
        let yaml = tls_config("{}").replace(
            "      tls:",
            &format!(
                "      protocol: {protocol}\n      health_check: {{ kind: http, path: /healthz }}\n      tls:"
            ),
        );
        parse(&yaml, "t.yaml", &|_| None)
    };
    assert!(with_http_check("http1").is_ok());
    assert!(with_http_check("h2").is_ok());
}

/// An `http` check of an `h2` TLS cluster negotiates h2 with the cluster's
/// CA and client certificate, and its verdict follows the answers.
#[tokio::test(flavor = "multi_thread")]
async fn http_checks_of_an_h2_cluster_run_over_tls_and_h2() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::generate(dir.path()).unwrap();
    let mtls = MockUpstream::start("mtls", Mtls::new(&certs, Arc::new(Echo)))
        .await
        .unwrap();
    let body = r#"
clusters:
  h2:
    endpoints: [ { address: "${upstream.mtls}", name: mtls } ]
    protocol: h2
    tls: { ca: "${certs.ca}", client_cert: "${certs.client_cert}", client_key: "${certs.client_key}" }
    health_check: { kind: http, path: /healthz, expect_status: 200, interval: 100ms, unhealthy_after: 1, healthy_after: 2 }
routes:
  - { name: h2, match: { path_prefix: / }, cluster: h2 }
"#;
    let template = certs
        .vars()
        .into_iter()
        .fold(Template::new(&config(body)), |t, (k, v)| t.var(k, &v))
        .upstream("mtls", mtls.addr());
    let gw = start(&template).await;
    harness::wait::until("two passing checks", Duration::from_secs(10), || async {
        (mtls.health_checks() >= 2).then_some(())
    })
    .await
    .unwrap();
    gw.wait_metric(
        "gateway_upstream_healthy",
        &[("endpoint", "mtls")],
        1.0,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    mtls.set_health_status(503);
    gw.wait_metric(
        "gateway_upstream_healthy",
        &[("endpoint", "mtls")],
        0.0,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plaintext_cluster_is_not_affected_by_tls_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::generate(dir.path()).unwrap();
    let plain = MockUpstream::start("plain", Fixed::ok("plain"))
        .await
        .unwrap();
    let body = r#"
clusters:
  plain: { endpoints: [ { address: "${upstream.plain}", name: plain } ] }
  tls:
    endpoints: [ { address: "${upstream.plain}", name: plain } ]
    tls: { ca: "${certs.ca}" }
    retries: { attempts: 0 }
routes:
  - { name: plain, match: { path_prefix: /plain }, cluster: plain }
  - { name: tls, match: { path_prefix: /tls }, cluster: tls }
"#;
    let template = certs
        .vars()
        .into_iter()
        .fold(Template::new(&config(body)), |t, (k, v)| t.var(k, &v))
        .upstream("plain", plain.addr());
    let gw = start(&template).await;
    let r = get(&gw, "/tls", &[]).await;
    assert_eq!(
        r.status, 502,
        "TLS to a plaintext endpoint fails: {}",
        r.body
    );
    let r = get(&gw, "/plain", &[]).await;
    assert_eq!((r.status, r.upstream()), (200, "plain"));
}
