//! Path normalisation before routing: traversal and encoding tricks from the
//! nginx, Envoy and OWASP lists either get 400 or are routed by their
//! canonical path, which is also the path the upstream receives. A request
//! under `/public` can never reach the `admin` upstream while still looking
//! like `/public` to the route table.

use crate::common::{config, start};
use harness::upstream::Echo;
use harness::{MockUpstream, Template};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ROUTES: &str = r#"
clusters:
  public: { endpoints: [ { address: "${upstream.public}", name: public } ] }
  admin: { endpoints: [ { address: "${upstream.admin}", name: admin } ] }
routes:
  - { name: public, match: { path_prefix: /public }, cluster: public }
  - { name: admin, match: { path_prefix: /admin }, cluster: admin }
  - { name: strip, match: { path_prefix: /strip/ }, cluster: public, rewrite: { strip_prefix: true } }
"#;

#[derive(Debug, PartialEq)]
enum Outcome {
    /// The gateway answered this status itself.
    Status(u16),
    /// The named upstream received this path.
    Upstream(&'static str, String),
}

use Outcome::{Status, Upstream};

fn up(name: &'static str, path: &str) -> Outcome {
    Upstream(name, path.to_string())
}

/// Sends `GET {target}` byte for byte and reduces the answer to an outcome.
async fn send_raw(addr: std::net::SocketAddr, target: &str) -> Outcome {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut buf))
        .await
        .expect("response within 10 s")
        .ok();
    let text = String::from_utf8_lossy(&buf);
    let status: u16 = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line for {target}: {text:?}"));
    if status != 200 {
        return Status(status);
    }
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let doc: serde_json::Value = serde_json::from_str(body).unwrap();
    let name = match doc["upstream"].as_str() {
        Some("public") => "public",
        Some("admin") => "admin",
        other => panic!("unknown upstream {other:?}"),
    };
    Upstream(name, doc["path"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn bypass_attempts_are_refused_or_routed_by_their_canonical_path() {
    let public = MockUpstream::start("public", Echo).await.unwrap();
    let admin = MockUpstream::start("admin", Echo).await.unwrap();
    let template = Template::new(&config(ROUTES))
        .upstream("public", public.addr())
        .upstream("admin", admin.addr());
    let gw = start(&template).await;

    let cases: Vec<(&str, Outcome)> = vec![
        // Dot segments, plain and percent-encoded: routed as what they are.
        ("/public/../admin/secret", up("admin", "/admin/secret")),
        ("/public/%2e%2e/admin/secret", up("admin", "/admin/secret")),
        ("/public/%2E%2E/admin", up("admin", "/admin")),
        ("/public/.%2e/admin", up("admin", "/admin")),
        ("/public/%2e./admin", up("admin", "/admin")),
        ("/public/./../admin", up("admin", "/admin")),
        ("/public/a/%2e%2e/%2e%2e/admin", up("admin", "/admin")),
        ("/public/%2E%2e/%61dmin", up("admin", "/admin")),
        ("/./admin", up("admin", "/admin")),
        ("//admin/secret", up("admin", "/admin/secret")),
        ("/public//../admin", up("admin", "/admin")),
        ("/public/%2e/admin", up("public", "/public/admin")),
        ("/public/;/../admin", up("public", "/public/admin")),
        // Not dot segments: passed on, never decoded twice.
        ("/public/..../admin", up("public", "/public/..../admin")),
        ("/public/.../admin", up("public", "/public/.../admin")),
        (
            "/public/%252e%252e/admin",
            up("public", "/public/%252e%252e/admin"),
        ),
        (
            "/public/..%252f..%252fadmin",
            up("public", "/public/..%252f..%252fadmin"),
        ),
        (
            "/public/%c0%ae%c0%ae/admin",
            up("public", "/public/%C0%AE%C0%AE/admin"),
        ),
        ("/public?x=/../admin", up("public", "/public")),
        // Encoded separators, NUL, backslashes, climbing above the root,
        // servlet-style `..;` and broken escapes: 400.
        ("/public/..%2fadmin", Status(400)),
        ("/public/..%2Fadmin", Status(400)),
        ("/public%2f..%2fadmin", Status(400)),
        ("/public/%2e%2e%2fadmin", Status(400)),
        ("/public/..%5cadmin", Status(400)),
        ("/public/..\\admin", Status(400)),
        ("/public/..;/admin", Status(400)),
        ("/public/%00/../admin", Status(400)),
        ("/public/..%00/admin", Status(400)),
        ("/public/../../admin", Status(400)),
        ("/%2e%2e/admin", Status(400)),
        ("/..", Status(400)),
        ("/public/%u002e%u002e/admin", Status(400)),
        ("/public/%zz", Status(400)),
        // With strip_prefix: the prefix is stripped from the canonical path.
        ("/strip/a/../b", up("public", "/b")),
        ("/strip//x", up("public", "/x")),
        ("/strip/../admin", up("admin", "/admin")),
        ("/strip/x/../../admin/y", up("admin", "/admin/y")),
        ("/stripped/../strip/y", up("public", "/y")),
        ("/strip/%2e%2e/%2e%2e/etc/passwd", Status(400)),
        ("/strip/..%2f..%2fetc/passwd", Status(400)),
        ("/strip/%2e%2e", Status(404)),
    ];
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for (target, expected) in &cases {
        let got = send_raw(gw.proxy_addr(), target).await;
        if &got != expected {
            failures.push(format!("{target}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn escaped_slashes_can_be_kept_or_decoded_and_merging_disabled() {
    let public = MockUpstream::start("public", Echo).await.unwrap();
    let admin = MockUpstream::start("admin", Echo).await.unwrap();
    for (policy, cases) in [
        (
            "downstream: { escaped_slashes: keep, merge_slashes: false }",
            vec![
                ("/public/a%2fb", up("public", "/public/a%2Fb")),
                ("/public/..%2fadmin", up("public", "/public/..%2Fadmin")),
                ("/public//x", up("public", "/public//x")),
            ],
        ),
        (
            "downstream: { escaped_slashes: decode }",
            vec![
                ("/public/..%2fadmin", up("admin", "/admin")),
                ("/public/a%5cb", up("public", "/public/a/b")),
                ("/public/..%2f..%2fetc", Status(400)),
            ],
        ),
    ] {
        let template = Template::new(&config(&format!("{ROUTES}{policy}\n")))
            .upstream("public", public.addr())
            .upstream("admin", admin.addr());
        let gw = start(&template).await;
        for (target, expected) in cases {
            assert_eq!(
                send_raw(gw.proxy_addr(), target).await,
                expected,
                "{policy}: {target}"
            );
        }
    }
}
