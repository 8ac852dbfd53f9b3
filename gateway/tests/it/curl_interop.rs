//! Interoperability with curl (when it is installed and built with HTTP/2):
//! `curl --http2` negotiates HTTP/2 by ALPN on an HTTPS listener with
//! `h2: true`, and `curl --http2-prior-knowledge` speaks HTTP/2 on an `h2c`
//! listener, which still answers plain HTTP/1.1 curl. Without such a curl
//! the tests print why they did not run.

use crate::common::start;
use harness::certs::TestCerts;
use harness::upstream::Echo;
use harness::{GatewayProcess, MockUpstream, Template};
use std::path::PathBuf;
use std::process::Command;

/// Separates the response body from curl's `--write-out` line.
const MARKER: &str = "\n@@curl@@ ";

/// What curl reported for one request.
#[derive(Debug)]
struct CurlReply {
    status: u16,
    /// `%{http_version}`: `1.1`, `2`, ...
    http_version: String,
    body: serde_json::Value,
}

/// Why curl cannot be used here, if it cannot.
fn curl_unusable() -> Option<String> {
    match Command::new("curl").arg("--version").output() {
        Err(e) => Some(format!("curl is not installed ({e})")),
        Ok(out) if !out.status.success() => Some("`curl --version` failed".into()),
        Ok(out) => {
            let version = String::from_utf8_lossy(&out.stdout);
            let has_http2 = version
                .lines()
                .filter(|l| l.starts_with("Features:"))
                .any(|l| l.split_whitespace().any(|f| f == "HTTP2"));
            (!has_http2).then(|| "curl is installed without HTTP2 support".into())
        }
    }
}

/// Skips the calling test with a note when curl cannot be used. The note
/// goes straight to the process's stderr, past the test harness's output
/// capture, so a skipped test is visible in a normal `cargo test` run.
macro_rules! require_curl {
    () => {
        if let Some(why) = curl_unusable() {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {why}; the curl interoperability tests need curl with HTTP2"
            );
            return;
        }
    };
}

/// Runs curl with `args` (bounded by `--max-time`) and parses what it wrote.
async fn curl(args: Vec<String>) -> Result<CurlReply, String> {
    let run = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "10"])
            .args([
                "--write-out",
                &format!("{MARKER}%{{http_code}} %{{http_version}}"),
            ])
            .args(&args)
            .output()
    });
    let out = run
        .await
        .map_err(|e| format!("curl task: {e}"))?
        .map_err(|e| format!("running curl: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "curl exited with {}: {}{stdout}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let (body, written) = stdout
        .rsplit_once(MARKER)
        .ok_or_else(|| format!("no write-out line in {stdout:?}"))?;
    let (status, http_version) = written
        .trim()
        .split_once(' ')
        .ok_or_else(|| format!("unexpected write-out {written:?}"))?;
    Ok(CurlReply {
        status: status
            .parse()
            .map_err(|_| format!("status {status:?} is not a number"))?,
        http_version: http_version.to_string(),
        body: serde_json::from_str(body).map_err(|e| format!("body {body:?}: {e}"))?,
    })
}

/// The echo upstream's description of a request that reached it.
fn assert_echoed(reply: &CurlReply, path: &str) {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["upstream"], "echo", "{reply:?}");
    assert_eq!(reply.body["path"], path, "{reply:?}");
}

const ROUTES: &str = r#"
  clusters:
    echo: { endpoints: [ { address: "${upstream.echo}", name: echo } ] }
  routes:
    - { name: all, match: { path_prefix: / }, cluster: echo }
"#;

fn gateway_config(listener: &str) -> String {
    format!(
        "version: 1\nthreads: 1\ngrace_period_seconds: 1\ngraceful_shutdown_timeout_seconds: 1\n\
         gateway:\n  listeners:\n    - {listener}\n  \
         admin: {{ address: \"127.0.0.1:${{port.admin}}\" }}\n{ROUTES}"
    )
}

fn port(gw: &GatewayProcess) -> String {
    gw.var("port.proxy")
        .expect("the config has a proxy port")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_http2_negotiates_h2_over_tls() {
    require_curl!();
    let dir = tempfile::tempdir().unwrap();
    let certs = TestCerts::generate(dir.path()).unwrap();
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let listener = r#"{ address: "127.0.0.1:${port.proxy}", tls: { cert: "${certs.server_cert}", key: "${certs.server_key}", h2: true } }"#;
    let template = certs
        .vars()
        .into_iter()
        .fold(Template::new(&gateway_config(listener)), |t, (k, v)| {
            t.var(k, &v)
        })
        .upstream("echo", echo.addr());
    let gw = start(&template).await;
    let port = port(&gw);
    let ca: PathBuf = certs.ca().to_path_buf();

    let reply = curl(vec![
        "--http2".into(),
        "--cacert".into(),
        ca.display().to_string(),
        "--resolve".into(),
        format!("localhost:{port}:127.0.0.1"),
        format!("https://localhost:{port}/over/tls"),
    ])
    .await
    .unwrap();
    assert_eq!(reply.http_version, "2", "ALPN chose h2: {reply:?}");
    assert_echoed(&reply, "/over/tls");
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_prior_knowledge_and_http1_share_an_h2c_listener() {
    require_curl!();
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let listener = r#"{ address: "127.0.0.1:${port.proxy}", h2c: true }"#;
    let template = Template::new(&gateway_config(listener)).upstream("echo", echo.addr());
    let gw = start(&template).await;
    let url = format!("http://127.0.0.1:{}/cleartext", port(&gw));

    let h2 = curl(vec!["--http2-prior-knowledge".into(), url.clone()])
        .await
        .unwrap();
    assert_eq!(h2.http_version, "2", "{h2:?}");
    assert_echoed(&h2, "/cleartext");

    let h1 = curl(vec!["--http1.1".into(), url]).await.unwrap();
    assert_eq!(h1.http_version, "1.1", "{h1:?}");
    assert_echoed(&h1, "/cleartext");
}
