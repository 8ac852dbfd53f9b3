//! `gateway-demo` (what `cargo xtask demo` runs) passes SIGTERM on to the
//! gateway it started and waits for it: once the demo is gone, so is the
//! gateway, and its ports are free.

#![allow(clippy::unwrap_used)]

use harness::binary::gateway_binary;
use harness::gateway::free_ports;
use harness::wait;
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Two echo upstreams (the demo's blue and green); SIGTERM drains for 1 s.
const TEMPLATE: &str = r#"version: 1
threads: 1
grace_period_seconds: 5
graceful_shutdown_timeout_seconds: 1
gateway:
  listeners: [ { address: "127.0.0.1:${port.proxy}" } ]
  admin: { address: "127.0.0.1:${port.admin}" }
  shutdown: { drain_delay: 1s }
  clusters:
    colors:
      endpoints:
        - { address: "${upstream.blue}", name: blue }
        - { address: "${upstream.green}", name: green }
  routes:
    - { name: all, match: { path_prefix: / }, cluster: colors }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_to_the_demo_stops_its_gateway_and_frees_the_ports() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("demo.yaml");
    std::fs::write(&config, TEMPLATE).unwrap();
    let ports = free_ports(2);
    let mut demo = Command::new(env!("CARGO_BIN_EXE_gateway-demo"))
        .arg("--gateway")
        .arg(gateway_binary().unwrap())
        .arg("--config")
        .arg(&config)
        .arg("--ports")
        .arg(format!("{},{}", ports[0], ports[1]))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // "gateway ready (pid N), ..." then the hints, then "press Ctrl-C". The
    // rest is read too: the demo prints while it stops.
    let stdout = demo.stdout.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let output = std::thread::spawn(move || {
        let mut pid = None;
        let mut text = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap_or_default();
            if let Some(rest) = line.strip_prefix("gateway ready (pid ") {
                pid = rest.split(')').next().and_then(|p| p.parse::<i32>().ok());
            }
            if line.starts_with("press Ctrl-C") {
                let _ = ready_tx.send(pid);
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let gateway = ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the demo did not become ready within 30 s")
        .map(Pid::from_raw)
        .expect("the demo printed its gateway's pid");
    let proxy = std::net::SocketAddr::from(([127, 0, 0, 1], ports[0]));
    assert!(tokio::net::TcpStream::connect(proxy).await.is_ok());

    kill(Pid::from_raw(demo.id() as i32), Signal::SIGTERM).unwrap();
    let status = wait::until("the demo to exit", Duration::from_secs(20), || {
        std::future::ready(demo.try_wait().unwrap())
    })
    .await
    .unwrap_or_else(|e| {
        let _ = kill(gateway, Signal::SIGKILL);
        let _ = demo.kill();
        panic!("{e}")
    });
    // The gateway is gone (not left running, holding the ports).
    let alive = kill(gateway, None);
    if alive != Err(Errno::ESRCH) {
        let _ = kill(gateway, Signal::SIGKILL);
        panic!("the gateway (pid {gateway}) outlived the demo: {alive:?}");
    }
    let output = output.join().unwrap();
    assert!(status.success(), "demo exit status {status}:\n{output}");

    assert!(
        tokio::net::TcpStream::connect(proxy).await.is_err(),
        "the proxy port is still open"
    );
}
