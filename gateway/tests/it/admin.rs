//! Admin access: the bearer token guards everything but the probes, and
//! state-changing requests refuse browsers (`Origin`) and unknown `Host`s.

use crate::common;
use crate::common::start;
use harness::upstream::Fixed;
use harness::{MockUpstream, Template};
use reqwest::StatusCode;

/// The token, through `${ENV:-default}` as an operator would write it.
const TOKEN: &str = "test-admin-token-0123";

fn config() -> String {
    format!(
        r#"version: 1
threads: 1
grace_period_seconds: 1
graceful_shutdown_timeout_seconds: 1
gateway:
  listeners: [ {{ address: "127.0.0.1:${{port.proxy}}" }} ]
  admin: {{ address: "127.0.0.1:${{port.admin}}", token: "${{GATEWAY_TEST_UNSET_TOKEN:-{TOKEN}}}" }}
  clusters:
    api: {{ endpoints: [ {{ address: "${{upstream.api}}" }} ] }}
  routes:
    - {{ match: {{ path_prefix: / }}, cluster: api }}
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_guards_admin_endpoints_and_posts_refuse_browsers_and_unknown_hosts() {
    let api = MockUpstream::start("api", Fixed::ok("ok")).await.unwrap();
    let gw = start(&Template::new(&config()).upstream("api", api.addr())).await;
    let client = common::client();
    let bearer = format!("Bearer {TOKEN}");
    let status = |r: reqwest::Response| r.status();

    // Probes stay open (orchestrators call them without credentials).
    for probe in ["/healthz", "/ready"] {
        let r = client.get(gw.admin_url(probe)).send().await.unwrap();
        assert_eq!(status(r), StatusCode::OK, "{probe}");
    }
    for path in ["/metrics", "/config"] {
        let none = client.get(gw.admin_url(path)).send().await.unwrap();
        assert_eq!(
            none.status(),
            StatusCode::UNAUTHORIZED,
            "{path} without token"
        );
        assert_eq!(
            none.headers().get("www-authenticate").unwrap(),
            "Bearer",
            "{path}"
        );
        let wrong = client
            .get(gw.admin_url(path))
            .header("authorization", "Bearer not-the-token-at-all")
            .send()
            .await
            .unwrap();
        assert_eq!(
            status(wrong),
            StatusCode::UNAUTHORIZED,
            "{path} wrong token"
        );
        let right = client
            .get(gw.admin_url(path))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(status(right), StatusCode::OK, "{path} with the token");
    }

    let reload = || client.post(gw.admin_url("/config/reload"));
    let no_token = reload().send().await.unwrap();
    assert_eq!(status(no_token), StatusCode::UNAUTHORIZED);
    let from_browser = reload()
        .header("authorization", &bearer)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(status(from_browser), StatusCode::FORBIDDEN);
    let rebound = reload()
        .header("authorization", &bearer)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(status(rebound), StatusCode::FORBIDDEN);
    let by_name = reload()
        .header("authorization", &bearer)
        .header("host", format!("localhost:{}", gw.admin_addr().port()))
        .send()
        .await
        .unwrap();
    assert_eq!(status(by_name), StatusCode::OK, "localhost:PORT is allowed");
    let ok = reload()
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let body: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(body["result"], "applied", "{body}");
}

#[test]
fn a_non_loopback_admin_address_needs_a_token() {
    let yaml = |admin: &str| {
        format!(
            "version: 1\ngateway:\n  listeners: [ {{ address: \"127.0.0.1:6188\" }} ]\n  admin: {admin}\n  \
             clusters:\n    api: {{ endpoints: [ {{ address: \"127.0.0.1:3001\" }} ] }}\n  \
             routes:\n    - {{ cluster: api }}\n"
        )
    };
    let lookup = |_: &str| None;
    let open = gateway::config::parse(&yaml("{ address: \"0.0.0.0:9090\" }"), "a.yaml", &lookup)
        .unwrap_err()
        .to_string();
    assert!(
        open.starts_with(
            "a.yaml: gateway.admin.token: the admin address `0.0.0.0:9090` is not loopback"
        ),
        "{open}"
    );
    gateway::config::parse(
        &yaml("{ address: \"0.0.0.0:9090\", token: \"0123456789abcdef\" }"),
        "a.yaml",
        &lookup,
    )
    .unwrap();
    gateway::config::parse(&yaml("{ address: \"[::1]:9090\" }"), "a.yaml", &lookup).unwrap();
}

/// `POST /logs/reopen` follows the rules of every state-changing request;
/// with the access log on stderr there is nothing to reopen.
#[tokio::test(flavor = "multi_thread")]
async fn logs_reopen_needs_the_token_refuses_browsers_and_is_a_no_op_on_stderr() {
    let api = MockUpstream::start("api", Fixed::ok("ok")).await.unwrap();
    let gw = start(&Template::new(&config()).upstream("api", api.addr())).await;
    let client = common::client();
    let bearer = format!("Bearer {TOKEN}");
    let reopen = || client.post(gw.admin_url("/logs/reopen"));

    let no_token = reopen().send().await.unwrap();
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    let from_browser = reopen()
        .header("authorization", &bearer)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(from_browser.status(), StatusCode::FORBIDDEN);
    let rebound = reopen()
        .header("authorization", &bearer)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    let get = client
        .get(gw.admin_url("/logs/reopen"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    let ok = reopen()
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let body: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(body["result"], "not a file", "{body}");
    assert_eq!(body["destination"], "stderr", "{body}");
}
