//! `cargo xtask demo`: the gateway on `fixtures/demo.yaml` in front of two
//! echoing upstreams, blue and green. Ctrl-C stops it gracefully (SIGTERM).

use harness::upstream::Echo;
use harness::{GatewayProcess, MockUpstream, Template};
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut gateway, mut config) = (None, PathBuf::from("fixtures/demo.yaml"));
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--gateway" => gateway = args.next().map(PathBuf::from),
            "--config" => config = args.next().map(PathBuf::from).unwrap_or(config),
            other => {
                eprintln!(
                    "unknown argument {other}; usage: gateway-demo --gateway PATH [--config FILE]"
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let Some(gateway) = gateway else {
        eprintln!("usage: gateway-demo --gateway PATH [--config FILE]");
        return ExitCode::FAILURE;
    };
    match run(&gateway, &config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(gateway: &std::path::Path, config: &std::path::Path) -> Result<(), String> {
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
