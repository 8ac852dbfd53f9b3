//! `cargo xtask demo`: the gateway in front of mock upstreams.
//!
//! - Without `--config`: the gateway's embedded default config (no file), its
//!   one upstream (`UPSTREAM_ADDR`) played by an echoing mock.
//! - With `--config FILE` (e.g. `fixtures/demo.yaml`): that config template,
//!   with two echoing upstreams, blue and green.
//!
//! Ctrl-C stops it gracefully (SIGTERM).

use harness::upstream::Echo;
use harness::{GatewayProcess, MockUpstream, Template};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: gateway-demo --gateway PATH [--config FILE]";

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut gateway, mut config) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--gateway" => gateway = args.next().map(PathBuf::from),
            "--config" => config = args.next().map(PathBuf::from),
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
    let result = match config {
        Some(config) => run_template(&gateway, &config).await,
        None => run_embedded(&gateway).await,
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
async fn run_embedded(gateway: &Path) -> Result<(), String> {
    let upstream = MockUpstream::start("upstream", Echo)
        .await
        .map_err(|e| e.to_string())?;
    let mut child = Command::new(gateway)
        .env("UPSTREAM_ADDR", upstream.addr().to_string())
        .stdin(Stdio::null())
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
    println!("press Ctrl-C to stop");
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    println!("\nstopping: SIGTERM, in-flight requests get the grace period");
    kill(pid, Signal::SIGTERM).map_err(|e| e.to_string())?;
    let status = child.wait().map_err(|e| e.to_string())?;
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
async fn run_template(gateway: &Path, config: &Path) -> Result<(), String> {
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
        .var("port.proxy", "6188")
        .var("port.admin", "6189");
    let mut gw = GatewayProcess::start(gateway, &template).await?;
    println!(
        "gateway ready (pid {}), upstreams blue={} green={}",
        gw.pid(),
        blue.addr(),
        green.addr()
    );
    println!("try:");
    println!("  curl -i http://127.0.0.1:6188/                      # alternates blue / green");
    println!(
        "  curl -i 'http://127.0.0.1:6188/api/users?utm_source=x' # prefix stripped, query cleaned"
    );
    println!(
        "  curl -i -X DELETE http://127.0.0.1:6188/api/users      # method not routed: JSON 404"
    );
    println!("  curl -s http://127.0.0.1:6189/metrics | grep ^gateway_");
    println!("  curl -s http://127.0.0.1:6189/config");
    println!("  curl -s -X POST http://127.0.0.1:6189/config/reload");
    println!("gateway log: {}/gateway.log", gw.var("dir").unwrap_or("?"));
    println!("press Ctrl-C to stop");
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    println!("\nstopping: SIGTERM, in-flight requests get the grace period");
    gw.signal(Signal::SIGTERM)?;
    let status = gw.wait_exit(Duration::from_secs(30)).await?;
    println!("gateway exited with {status}");
    Ok(())
}
