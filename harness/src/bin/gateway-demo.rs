//! `cargo xtask demo`: the gateway in front of mock upstreams.
//!
//! - Without `--config`: the gateway's embedded default config (no file), its
//!   one upstream (`UPSTREAM_ADDR`) played by an echoing mock.
//! - With `--config FILE` (e.g. `fixtures/demo.yaml`): that config template,
//!   with two echoing upstreams, blue and green.
//!
//! SIGINT (Ctrl-C) and SIGTERM to the demo are passed on to the gateway
//! (SIGINT: it exits at once; SIGTERM: it drains, see docs/FLEET.md), and the
//! demo waits for it to exit, so its ports (6188, 6189) are free when the
//! demo is gone. A second signal, or a gateway still running after
//! [`STOP_WAIT`], gets SIGKILL.

use harness::upstream::Echo;
use harness::{GatewayProcess, MockUpstream, Template};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};

/// Longest wait for the gateway after passing a signal on: the embedded
/// config's drain delay (5 s) and grace period (5 s), with a margin.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// SIGINT and SIGTERM to the demo, listened to from the start so neither
/// can end the demo while its gateway runs on.
struct StopSignals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> Result<Self, String> {
        let listen = |kind| signal(kind).map_err(|e| format!("listening for signals: {e}"));
        Ok(StopSignals {
            int: listen(SignalKind::interrupt())?,
            term: listen(SignalKind::terminate())?,
        })
    }

    /// The next SIGINT or SIGTERM.
    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.int.recv() => Signal::SIGINT,
            _ = self.term.recv() => Signal::SIGTERM,
        }
    }
}

/// Passes `first` on to the gateway `pid` and waits for it to exit;
/// `try_exit` polls its status. A second signal or [`STOP_WAIT`] kills it.
async fn stop_gateway(
    pid: Pid,
    first: Signal,
    signals: &mut StopSignals,
    mut try_exit: impl FnMut() -> Option<ExitStatus>,
) -> Result<ExitStatus, String> {
    println!("\nstopping: {first} passed on to the gateway (pid {pid}), waiting for it to exit");
    kill(pid, first).map_err(|e| format!("kill {first}: {e}"))?;
    let deadline = Instant::now() + STOP_WAIT;
    loop {
        if let Some(status) = try_exit() {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            println!("the gateway is still running after {STOP_WAIT:?}: SIGKILL");
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            again = signals.next() => {
                println!("{again} again: SIGKILL to the gateway");
                break;
            }
        }
    }
    kill(pid, Signal::SIGKILL).map_err(|e| format!("kill SIGKILL: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(status) = try_exit() {
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "the gateway (pid {pid}) did not exit after SIGKILL"
    ))
}

const USAGE: &str = "usage: gateway-demo --gateway PATH [--config FILE [--ports PROXY,ADMIN]]";

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut gateway, mut config) = (None, None);
    // With `--config`: the proxy and admin ports (tests pass free ones).
    let mut ports = (6188, 6189);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--gateway" => gateway = args.next().map(PathBuf::from),
            "--config" => config = args.next().map(PathBuf::from),
            "--ports" => match args.next().as_deref().and_then(parse_ports) {
                Some(p) => ports = p,
                None => {
                    eprintln!("--ports takes PROXY,ADMIN; {USAGE}");
                    return ExitCode::FAILURE;
                }
            },
            other => {
                eprintln!("unknown argument {other}; {USAGE}");
                return ExitCode::FAILURE;
            }
        }
    }
    let Some(gateway) = gateway else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let mut signals = match StopSignals::listen() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match config {
        Some(config) => run_template(&gateway, &config, ports, &mut signals).await,
        None => run_embedded(&gateway, &mut signals).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The embedded default config: proxy on 127.0.0.1:6188, admin on 6189.
async fn run_embedded(gateway: &Path, signals: &mut StopSignals) -> Result<(), String> {
    let upstream = MockUpstream::start("upstream", Echo)
        .await
        .map_err(|e| e.to_string())?;
    let mut child = Command::new(gateway)
        .env("UPSTREAM_ADDR", upstream.addr().to_string())
        .stdin(Stdio::null())
        // Its own process group: the demo decides which signal it gets.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", gateway.display()))?;
    let pid = Pid::from_raw(child.id() as i32);
    let ready = wait_ready("http://127.0.0.1:6189/ready", &mut child).await;
    if let Err(e) = ready {
        let _ = kill(pid, Signal::SIGKILL);
        return Err(e);
    }
    println!(
        "gateway ready on its embedded default config (pid {pid}), upstream (an echo mock) at {}",
        upstream.addr()
    );
    println!("try:");
    println!("  curl -i http://127.0.0.1:6188/hello?x=1                 # proxied; the echo shows what the upstream got");
    println!("  curl -i --path-as-is http://127.0.0.1:6188/a/../b       # normalised to /b before routing");
    println!("  curl -i --path-as-is http://127.0.0.1:6188/a/..%2fb     # encoded slash: 400");
    println!("  curl -s http://127.0.0.1:6189/metrics | grep ^gateway_");
    println!("  curl -s http://127.0.0.1:6189/config");
    println!("press Ctrl-C to stop (SIGTERM to the demo drains the gateway first)");
    let first = signals.next().await;
    let status = stop_gateway(pid, first, signals, || child.try_wait().ok().flatten()).await?;
    println!("gateway exited with {status}");
    Ok(())
}

async fn wait_ready(url: &str, child: &mut std::process::Child) -> Result<(), String> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(r) = client.get(url).send().await {
            if r.status() == 200 {
                return Ok(());
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("gateway exited with {status} before it was ready"));
        }
        if Instant::now() >= deadline {
            return Err(format!("gateway not ready within 15 s ({url})"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A config template with `${upstream.blue}` and `${upstream.green}`.
/// `PROXY,ADMIN` port numbers.
fn parse_ports(text: &str) -> Option<(u16, u16)> {
    let (proxy, admin) = text.split_once(',')?;
    Some((proxy.trim().parse().ok()?, admin.trim().parse().ok()?))
}

async fn run_template(
    gateway: &Path,
    config: &Path,
    (proxy, admin): (u16, u16),
    signals: &mut StopSignals,
) -> Result<(), String> {
    let blue = MockUpstream::start("blue", Echo)
        .await
        .map_err(|e| e.to_string())?;
    let green = MockUpstream::start("green", Echo)
        .await
        .map_err(|e| e.to_string())?;
    let template = Template::from_file(config)
        .map_err(|e| format!("{}: {e}", config.display()))?
        .upstream("blue", blue.addr())
        .upstream("green", green.addr())
        .var("port.proxy", &proxy.to_string())
        .var("port.admin", &admin.to_string());
    let mut gw = GatewayProcess::start(gateway, &template).await?;
    println!(
        "gateway ready (pid {}), upstreams blue={} green={}",
        gw.pid(),
        blue.addr(),
        green.addr()
    );
    let (p, a) = (proxy, admin);
    println!("try:");
    println!("  curl -i http://127.0.0.1:{p}/                      # alternates blue / green");
    println!(
        "  curl -i 'http://127.0.0.1:{p}/api/users?utm_source=x' # prefix stripped, query cleaned"
    );
    println!(
        "  curl -i -X DELETE http://127.0.0.1:{p}/api/users      # method not routed: JSON 404"
    );
    println!("  curl -s http://127.0.0.1:{a}/metrics | grep ^gateway_");
    println!("  curl -s http://127.0.0.1:{a}/config");
    println!("  curl -s -X POST http://127.0.0.1:{a}/config/reload");
    println!("gateway log: {}/gateway.log", gw.var("dir").unwrap_or("?"));
    println!("press Ctrl-C to stop (SIGTERM to the demo drains the gateway first)");
    let first = signals.next().await;
    let pid = Pid::from_raw(gw.pid() as i32);
    let status = stop_gateway(pid, first, signals, || gw.try_exit_status()).await?;
    println!("gateway exited with {status}");
    Ok(())
}
