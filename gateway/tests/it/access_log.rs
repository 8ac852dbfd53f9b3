//! `gateway.access_log` with the real binary: text lines on stderr by
//! default, JSON lines to a file (relative to the config file) written at
//! shutdown even when the buffer never filled, `off`, and reopening the
//! file after logrotate renamed it (SIGUSR1 or `POST /logs/reopen`).

use crate::common::{self, config, start};
use harness::upstream::Echo;
use harness::{MockUpstream, Template};
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
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

/// A text access log to `access.log`, written within 20ms of each line.
fn rotating(echo: std::net::SocketAddr) -> Template {
    template(
        echo,
        "access_log: { path: access.log, flush_interval: 20ms }",
    )
}

/// The `request_id` of every line of `file` (none when it is missing).
fn request_ids(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            l.split(' ')
                .find_map(|f| f.strip_prefix("request_id="))
                .unwrap_or_else(|| panic!("no request_id: {l}"))
                .to_string()
        })
        .collect()
}

/// Sends one request per id in `ids` (`rot-N`), each answered 200.
async fn send_ids(gw: &harness::GatewayProcess, ids: std::ops::Range<usize>) {
    for i in ids {
        let id = format!("rot-{i}");
        let reply = common::get(gw, "/app/rotate", &[("x-request-id", &id)]).await;
        assert_eq!(reply.status, 200, "{id}");
    }
}

/// Waits until `file` holds (at least) `n` lines.
async fn wait_lines(gw: &harness::GatewayProcess, file: &Path, n: usize) {
    let what = format!("{n} lines in {}", file.display());
    let seen = harness::wait::until(&what, Duration::from_secs(10), || {
        std::future::ready((request_ids(file).len() >= n).then_some(()))
    })
    .await;
    if let Err(e) = seen {
        panic!("{e}: {:?}\n{}", request_ids(file), gw.log_tail(20));
    }
}

/// 50 requests, `access.log` renamed to `access.log.1`, the reopen that
/// `reopen` triggers, 50 more requests: the first 50 lines are all in the
/// renamed file, the next 50 in the new `access.log`, each id exactly once.
async fn rotation_loses_no_line<F, Fut>(reopen: F)
where
    F: FnOnce(harness::GatewayProcess) -> Fut,
    Fut: std::future::Future<Output = harness::GatewayProcess>,
{
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let gw = start(&rotating(echo.addr())).await;
    let dir = PathBuf::from(gw.var("dir").unwrap());
    let (current, rotated) = (dir.join("access.log"), dir.join("access.log.1"));
    send_ids(&gw, 0..50).await;
    // Every line of the first 50 is logged before the rotation starts.
    wait_lines(&gw, &current, 50).await;
    std::fs::rename(&current, &rotated).unwrap();

    let mut gw = reopen(gw).await;
    let ready = common::client().get(gw.admin_url("/ready")).send().await;
    assert!(
        ready.as_ref().is_ok_and(|r| r.status() == 200),
        "the gateway must still serve after the reopen: {ready:?}, exit {:?}\n{}",
        gw.try_exit_status(),
        gw.log_tail(20)
    );
    send_ids(&gw, 50..100).await;
    wait_lines(&gw, &current, 50).await;
    // Everything still buffered is written at exit: nothing more may come.
    gw.signal(Signal::SIGTERM).unwrap();
    let status = gw.wait_exit(Duration::from_secs(15)).await.unwrap();
    assert!(status.success(), "{status:?}: {}", gw.log_tail(20));

    let (old, new) = (request_ids(&rotated), request_ids(&current));
    let expected = |r: std::ops::Range<usize>| r.map(|i| format!("rot-{i}")).collect::<Vec<_>>();
    assert_eq!(
        old,
        expected(0..50),
        "access.log.1: the lines before the reopen"
    );
    assert_eq!(
        new,
        expected(50..100),
        "access.log: the lines after the reopen"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigusr1_reopens_a_renamed_file_and_loses_no_line() {
    rotation_loses_no_line(|mut gw| async move {
        gw.signal(Signal::SIGUSR1).unwrap();
        // The reopen is done once it is counted.
        let counted = gw
            .wait_metric(
                "gateway_access_log_reopens_total",
                &[("result", "ok")],
                1.0,
                Duration::from_secs(10),
            )
            .await;
        if let Err(e) = counted {
            let exit = gw.try_exit_status();
            panic!("{e}\nexit status: {exit:?}\n{}", gw.log_tail(20));
        }
        gw
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn post_logs_reopen_reopens_a_renamed_file_and_loses_no_line() {
    rotation_loses_no_line(|gw| async move {
        let reply = common::send(
            &common::client(),
            common::client().post(gw.admin_url("/logs/reopen")),
        )
        .await;
        // 200 once the file is reopened.
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["result"], "reopened", "{}", reply.body);
        gw
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_reopen_keeps_writing_to_the_old_file_and_is_counted() {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let gw = start(&rotating(echo.addr())).await;
    let dir = PathBuf::from(gw.var("dir").unwrap());
    let (current, rotated) = (dir.join("access.log"), dir.join("access.log.1"));
    send_ids(&gw, 0..3).await;
    wait_lines(&gw, &current, 3).await;
    std::fs::rename(&current, &rotated).unwrap();
    // A directory where the file should be: it cannot be opened.
    std::fs::create_dir(&current).unwrap();

    gw.signal(Signal::SIGUSR1).unwrap();
    let counted = gw
        .wait_metric(
            "gateway_access_log_reopens_total",
            &[("result", "error")],
            1.0,
            Duration::from_secs(10),
        )
        .await;
    if let Err(e) = counted {
        panic!("{e}\n{}", gw.log_tail(20));
    }
    let reply = common::send(
        &common::client(),
        common::client().post(gw.admin_url("/logs/reopen")),
    )
    .await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert_eq!(reply.json()["result"], "error", "{}", reply.body);
    send_ids(&gw, 3..6).await;
    wait_lines(&gw, &rotated, 6).await;
    let expected: Vec<String> = (0..6).map(|i| format!("rot-{i}")).collect();
    assert_eq!(request_ids(&rotated), expected);
    let errors = gw
        .log()
        .lines()
        .filter(|l| l.contains("access log: cannot reopen"))
        .count();
    assert_eq!(
        errors,
        2,
        "one error per failed reopen:\n{}",
        gw.log_tail(20)
    );
}
