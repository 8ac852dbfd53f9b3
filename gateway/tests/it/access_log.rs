//! `gateway.access_log` with the real binary: text lines on stderr by
//! default, JSON lines to a file (relative to the config file) written at
//! shutdown even when the buffer never filled, and `off`.

use crate::common::{self, config, start};
use harness::upstream::Echo;
use harness::{MockUpstream, Template};
use nix::sys::signal::Signal;
use std::time::Duration;

fn template(echo: std::net::SocketAddr, access_log: &str) -> Template {
    let body = format!(
        r#"
clusters:
  app: {{ endpoints: [ {{ address: "${{upstream.echo}}", name: echo }} ] }}
routes:
  - {{ name: app, match: {{ path_prefix: /app }}, cluster: app }}
{access_log}
"#
    );
    // SIGTERM stops the listeners at once: these tests are about the flush.
    Template::new(&common::with_drain_delay(&config(&body), "0s")).upstream("echo", echo)
}

#[tokio::test(flavor = "multi_thread")]
async fn default_text_lines_go_to_stderr_within_the_flush_interval() {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let gw = start(&template(echo.addr(), "")).await;
    let reply = common::get(&gw, "/app/hello", &[]).await;
    assert_eq!(reply.status, 200);
    let line = harness::wait::until("the access line", Duration::from_secs(5), || {
        let log = gw.log();
        std::future::ready(
            log.lines()
                .find(|l| l.contains("path=\"/app/hello\""))
                .map(str::to_string),
        )
    })
    .await
    .unwrap();
    assert!(line.starts_with("time="), "{line}");
    for field in [
        "method=GET",
        "status=200",
        "route=app",
        "cluster=app",
        "endpoint=echo",
        "attempts=1",
    ] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_lines_to_a_file_are_flushed_at_shutdown() {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    // Neither the buffer nor the interval would write the line before exit.
    let mut gw = start(&template(
        echo.addr(),
        "access_log: { format: json, path: access.log, buffer: 1MiB, flush_interval: 1h }",
    ))
    .await;
    let file = std::path::Path::new(gw.var("dir").unwrap()).join("access.log");
    assert_eq!(common::get(&gw, "/app/one", &[]).await.status, 200);
    assert_eq!(common::get(&gw, "/nowhere", &[]).await.status, 404);
    gw.signal(Signal::SIGTERM).unwrap();
    let status = gw.wait_exit(Duration::from_secs(15)).await.unwrap();
    assert!(status.success(), "{status:?}: {}", gw.log_tail(20));

    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let seen: Vec<(&str, u64)> = lines
        .iter()
        .filter(|v| v["path"] != "/ready")
        .map(|v| (v["path"].as_str().unwrap(), v["status"].as_u64().unwrap()))
        .collect();
    assert_eq!(seen, [("/app/one", 200), ("/nowhere", 404)], "{text}");
    assert!(
        !gw.log().contains("path=\"/app/one\""),
        "nothing on stderr when a file is set"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn off_writes_no_access_lines() {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let mut gw = start(&template(echo.addr(), "access_log: off")).await;
    assert_eq!(common::get(&gw, "/app/quiet", &[]).await.status, 200);
    gw.signal(Signal::SIGTERM).unwrap();
    gw.wait_exit(Duration::from_secs(15)).await.unwrap();
    let log = gw.log();
    assert!(
        log.contains("Server starting"),
        "the error log stays: {log}"
    );
    assert!(!log.contains("/app/quiet"), "{log}");
}
