//! HTTPS listeners: certificates chosen by SNI, HTTP/2 by ALPN, reloads
//! that swap certificates (and bad ones that do not), client certificates
//! required or optional with route rules, and the server name sent to TLS
//! upstreams per route.

use crate::common;
use crate::common::start;
use harness::certs::{TestCerts, A_NAME, B_NAME, CLIENT_CN};
use harness::upstream::{Echo, Mtls};
use harness::{GatewayProcess, MockUpstream, Template};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How a test client identifies itself.
#[derive(Clone, Copy)]
enum Identity {
    None,
    Test,
    Other,
}

/// What a client saw: the status (or the error) and, over TLS, the served
/// certificate's CN and the HTTP version.
#[derive(Debug)]
struct Seen {
    status: Result<u16, String>,
    cn: Option<String>,
    version: Option<http::Version>,
    body: String,
}

fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// GET `path` by `server_name` (by address without one).
async fn fetch(
    client: &reqwest::Client,
    addr: SocketAddr,
    server_name: Option<&str>,
    path: &str,
    headers: &[(&str, &str)],
) -> Seen {
    let url = match server_name {
        Some(name) => format!("https://{name}:{}{path}", addr.port()),
        None => format!("https://{addr}{path}"),
    };
    let mut req = client.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    match req.send().await {
        Ok(resp) => {
            let cn = resp
                .extensions()
                .get::<reqwest::tls::TlsInfo>()
                .and_then(|i| i.peer_certificate())
                .and_then(common_name);
            let version = Some(resp.version());
            let status = Ok(resp.status().as_u16());
            let body = resp.text().await.unwrap_or_default();
            Seen {
                status,
                cn,
                version,
                body,
            }
        }
        Err(e) => Seen {
            status: Err(format!("{e:?}")),
            cn: None,
            version: None,
            body: String::new(),
        },
    }
}

/// The names the tests connect with, all resolving to loopback.
const NAMES: [&str; 5] = [
    A_NAME,
    B_NAME,
    "c.example.test",
    "x.y.example.test",
    "localhost",
];

fn resolving(b: reqwest::ClientBuilder, addr: SocketAddr) -> reqwest::ClientBuilder {
    NAMES.iter().fold(b, |b, name| b.resolve(name, addr))
}

/// A client whose names ([`NAMES`]) all lead to `addr`, that verifies the
/// chain with the test CA but not the name (so a test sees which
/// certificate was served), and presents `identity`.
fn client_for(
    certs: &TestCerts,
    addr: SocketAddr,
    identity: Identity,
    http1_only: bool,
) -> reqwest::Client {
    let pem = |p: &Path| std::fs::read(p).unwrap();
    let mut b = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .use_rustls_tls()
        .tls_info(true)
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem(certs.ca())).unwrap())
        .danger_accept_invalid_hostnames(true)
        .pool_max_idle_per_host(0);
    if http1_only {
        b = b.http1_only();
    }
    let pair = match identity {
        Identity::None => None,
        Identity::Test => Some((certs.client_cert(), certs.client_key())),
        Identity::Other => Some(certs.other_client()),
    };
    if let Some((cert, key)) = pair {
        let mut both = pem(cert);
        both.extend(pem(key));
        b = b.identity(reqwest::Identity::from_pem(&both).unwrap());
    }
    resolving(b, addr).build().unwrap()
}

fn gateway_config(listener_tls: &str, body: &str) -> String {
    let mut text = format!(
        "version: 1\nthreads: 1\ngrace_period_seconds: 1\ngraceful_shutdown_timeout_seconds: 1\n\
         gateway:\n  listeners:\n    - address: \"127.0.0.1:${{port.proxy}}\"\n      tls: {listener_tls}\n  \
         admin: {{ address: \"127.0.0.1:${{port.admin}}\" }}\n"
    );
    for line in body.trim_matches('\n').lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

fn with_certs(text: &str, certs: &TestCerts) -> Template {
    certs
        .vars()
        .into_iter()
        .fold(Template::new(text), |t, (k, v)| t.var(k, &v))
}

const ECHO_ROUTES: &str = r#"
clusters:
  echo: { endpoints: [ { address: "${upstream.echo}", name: echo } ] }
routes:
  - { name: ops, match: { path_prefix: /ops }, cluster: echo, client_cert: { cn: [gateway-client] }, client_cert_header: X-Client-CN }
  - { name: admins, match: { path_prefix: /admins }, cluster: echo, client_cert: { cn: [someone-else], san: [admins.example.test] } }
  - { name: open, match: { path_prefix: / }, cluster: echo, client_cert_header: X-Client-CN }
"#;

struct Setup {
    _dir: tempfile::TempDir,
    certs: TestCerts,
    _echo: MockUpstream,
    gw: GatewayProcess,
}

async fn setup(listener_tls: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::generate(dir.path()).unwrap();
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let template = with_certs(&gateway_config(listener_tls, ECHO_ROUTES), &certs)
        .upstream("echo", echo.addr());
    let gw = start(&template).await;
    Setup {
        _dir: dir,
        certs,
        _echo: echo,
        gw,
    }
}

const SNI_TLS: &str = r#"{ cert: "${certs.server_cert}", key: "${certs.server_key}", h2: true, certificates: [ { hosts: [a.example.test], cert: "${certs.a_cert}", key: "${certs.a_key}" }, { hosts: ["*.example.test"], cert: "${certs.b_cert}", key: "${certs.b_key}" } ] }"#;

#[tokio::test(flavor = "multi_thread")]
async fn certificates_are_chosen_by_server_name_and_h2_by_alpn() {
    let s = setup(SNI_TLS).await;
    let addr = s.gw.proxy_addr();
    let h2 = client_for(&s.certs, addr, Identity::None, false);
    for (name, expected) in [
        (Some(A_NAME), A_NAME),
        (Some(B_NAME), B_NAME),
        (Some("c.example.test"), B_NAME),
        (Some("x.y.example.test"), "localhost"),
        (Some("localhost"), "localhost"),
        (None, "localhost"),
    ] {
        let seen = fetch(&h2, addr, name, "/", &[]).await;
        assert_eq!(seen.status, Ok(200), "{name:?}: {seen:?}");
        assert_eq!(seen.cn.as_deref(), Some(expected), "{name:?}");
        assert_eq!(seen.version, Some(http::Version::HTTP_2), "{name:?}");
    }
    let h1 = client_for(&s.certs, addr, Identity::None, true);
    let seen = fetch(&h1, addr, Some(A_NAME), "/", &[]).await;
    assert_eq!(seen.version, Some(http::Version::HTTP_11), "{seen:?}");
    assert_eq!(seen.cn.as_deref(), Some(A_NAME));
    let metric = |host: &'static str| {
        let gw = &s.gw;
        async move {
            gw.metric("gateway_tls_certificate_expiry_seconds", &[("host", host)])
                .await
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64;
    for host in ["default", A_NAME, "*.example.test"] {
        assert!(metric(host).await > now, "{host} expiry");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_swaps_certificates_and_a_bad_one_keeps_the_old_ones() {
    let before = r#"{ cert: "${certs.server_cert}", key: "${certs.server_key}" }"#;
    let s = setup(before).await;
    let addr = s.gw.proxy_addr();
    let c = client_for(&s.certs, addr, Identity::None, false);
    let cn = |seen: Seen| seen.cn;
    assert_eq!(
        cn(fetch(&c, addr, Some(A_NAME), "/", &[]).await).as_deref(),
        Some("localhost")
    );

    let added = r#"{ cert: "${certs.server_cert}", key: "${certs.server_key}", certificates: [ { hosts: [a.example.test], cert: "${certs.a_cert}", key: "${certs.a_key}" } ] }"#;
    s.gw.rewrite_config(&gateway_config(added, ECHO_ROUTES))
        .unwrap();
    let (status, body) = s.gw.reload().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["needs_restart"], serde_json::json!([]), "{body}");
    assert_eq!(
        cn(fetch(&c, addr, Some(A_NAME), "/", &[]).await).as_deref(),
        Some(A_NAME)
    );

    // The b key does not belong to the a certificate.
    let mismatched = added.replace("${certs.a_key}", "${certs.b_key}");
    s.gw.rewrite_config(&gateway_config(&mismatched, ECHO_ROUTES))
        .unwrap();
    let (status, body) = s.gw.reload().await.unwrap();
    assert_ne!(status, 200, "{body}");
    assert!(
        body.to_string()
            .contains("gateway.listeners[0].tls.certificates[0].key"),
        "{body}"
    );
    assert_eq!(
        cn(fetch(&c, addr, Some(A_NAME), "/", &[]).await).as_deref(),
        Some(A_NAME),
        "the old certificates keep serving"
    );
}

const REQUIRE: &str = r#"{ cert: "${certs.server_cert}", key: "${certs.server_key}", client_auth: { ca: "${certs.ca}", mode: require } }"#;
const OPTIONAL: &str = r#"{ cert: "${certs.server_cert}", key: "${certs.server_key}", client_auth: { ca: "${certs.ca}", mode: optional } }"#;

/// The `x-client-cn` the echo upstream saw (None when absent).
fn upstream_cn(seen: &Seen) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_str(&seen.body).ok()?;
    doc["headers"]["x-client-cn"].as_str().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn required_client_certificates_must_come_from_the_ca() {
    let s = setup(REQUIRE).await;
    let addr = s.gw.proxy_addr();
    let forged = [("x-client-cn", "forged")];
    let ok = fetch(
        &client_for(&s.certs, addr, Identity::Test, false),
        addr,
        Some("localhost"),
        "/ops",
        &forged,
    )
    .await;
    assert_eq!(ok.status, Ok(200), "{ok:?}");
    assert_eq!(upstream_cn(&ok).as_deref(), Some(CLIENT_CN), "{}", ok.body);
    let doc: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    assert_eq!(doc["headers"]["x-forwarded-proto"], "https", "{}", ok.body);

    for (identity, reason) in [
        (Identity::None, "no_client_cert"),
        (Identity::Other, "unknown_ca"),
    ] {
        let c = client_for(&s.certs, addr, identity, false);
        let seen = fetch(&c, addr, Some("localhost"), "/", &[]).await;
        assert!(seen.status.is_err(), "{reason}: {seen:?}");
        s.gw.wait_metric(
            "gateway_tls_handshake_failures_total",
            &[("reason", reason)],
            1.0,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    }
    assert!(
        !s.gw.log().contains("Downstream handshake error"),
        "failed handshakes are counted, not logged as errors"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn optional_client_certificates_leave_the_decision_to_routes() {
    let s = setup(OPTIONAL).await;
    let addr = s.gw.proxy_addr();
    let anonymous = client_for(&s.certs, addr, Identity::None, false);
    let known = client_for(&s.certs, addr, Identity::Test, false);
    let forged = [("x-client-cn", "forged")];

    let open = fetch(&anonymous, addr, Some("localhost"), "/", &forged).await;
    assert_eq!(open.status, Ok(200), "{open:?}");
    assert_eq!(upstream_cn(&open), None, "a client-sent CN never passes");
    let seen = fetch(&anonymous, addr, Some("localhost"), "/ops", &[]).await;
    assert_eq!(seen.status, Ok(401), "{seen:?}");
    let seen = fetch(&known, addr, Some("localhost"), "/admins", &[]).await;
    assert_eq!(seen.status, Ok(403), "{seen:?}");
    let seen = fetch(&known, addr, Some("localhost"), "/ops", &forged).await;
    assert_eq!(seen.status, Ok(200), "{seen:?}");
    assert_eq!(upstream_cn(&seen).as_deref(), Some(CLIENT_CN));
    // A certificate from another CA is still refused at the handshake.
    let other = client_for(&s.certs, addr, Identity::Other, false);
    let seen = fetch(&other, addr, Some("localhost"), "/", &[]).await;
    assert!(seen.status.is_err(), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_sni_is_set_per_route_and_still_verified() {
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::generate(dir.path()).unwrap();
    let upstream = MockUpstream::start("mtls", Mtls::new(&certs, Arc::new(Echo)))
        .await
        .unwrap();
    let body = r#"
clusters:
  secure:
    endpoints: [ { address: "${upstream.mtls}", name: mtls } ]
    tls: { sni: wrong.example.test, ca: "${certs.ca}", client_cert: "${certs.client_cert}", client_key: "${certs.client_key}" }
    retries: { attempts: 0 }
    passive_health: { consecutive_failures: 0 }
routes:
  - { name: named, match: { path_prefix: /named }, cluster: secure, upstream_sni: localhost }
  - { name: by-host, match: { path_prefix: /by-host }, cluster: secure, upstream_sni: from_host }
  - { name: cluster-sni, match: { path_prefix: / }, cluster: secure }
"#;
    let template = with_certs(&common::config(body), &certs).upstream("mtls", upstream.addr());
    let gw = start(&template).await;
    for (path, host, status) in [
        ("/named", "anything", 200),
        ("/by-host", "localhost:8080", 200),
        ("/by-host", "other.example.test", 502),
        ("/", "localhost", 502),
    ] {
        let reply = common::get(&gw, path, &[("host", host)]).await;
        assert_eq!(reply.status, status, "{path} with Host {host}: {reply:?}");
    }
    let log = gw.log();
    assert!(
        log.contains(
            "upstream TLS handshake failed: cluster=secure endpoint=mtls sni=wrong.example.test reason="
        ),
        "{log}"
    );
    assert!(log.contains("sni=other.example.test reason="), "{log}");
}
