//! The same small GET through every target, from one in-process HTTP/1.1
//! keep-alive client: straight to the origin (`direct`), through a bare
//! Pingora proxy, through the gateway (in-process, one bare route) and,
//! when installed, through nginx and haproxy. One criterion group, so one
//! run prints the comparison. Requests are sequential (one in flight), so
//! this measures added latency per hop; `cargo xtask bench` measures
//! throughput under concurrency.
//!
//! `cargo test --benches` runs each target once (criterion's test mode).

use benches::bare;
use benches::client::Client;
use benches::external::{free_port, installed, ExternalProxy};
use benches::inproc::RunningServer;
use benches::origin::{Origin, BODY};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gateway::config::{parse, ConfigSource, LoadedConfig};
use std::any::Any;
use std::net::SocketAddr;
use std::time::Duration;

/// One bare route to the origin, one worker thread.
fn gateway_config(listen: SocketAddr, origin: SocketAddr, dir: &std::path::Path) -> String {
    format!(
        r#"version: 1
threads: 1
grace_period_seconds: 0
graceful_shutdown_timeout_seconds: 1
upgrade_sock: "{dir}/upgrade.sock"
pid_file: "{dir}/gateway.pid"
gateway:
  listeners: [ {{ address: "{listen}" }} ]
  access_log: off
  clusters:
    origin: {{ endpoints: [ {{ address: "{origin}" }} ] }}
  routes:
    - {{ name: bench, match: {{ path_prefix: / }}, cluster: origin }}
"#,
        dir = dir.display()
    )
}

/// A target: its name, address, and whatever keeps it running.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    _keep: Box<dyn Any>,
}

fn start_targets(origin: &Origin, dir: &std::path::Path) -> Vec<Target> {
    let mut targets = vec![Target {
        name: "direct",
        addr: origin.addr(),
        _keep: Box::new(()),
    }];
    let listen = free_port().expect("a free port for pingora-bare");
    let server = bare::server(listen, origin.addr(), 1, false);
    targets.push(Target {
        name: "pingora-bare",
        addr: listen,
        _keep: Box::new(RunningServer::start(server).expect("starting pingora-bare")),
    });

    let listen = free_port().expect("a free port for the gateway");
    let text = gateway_config(listen, origin.addr(), dir);
    let config = parse(&text, "bench.yaml", &|_| None).expect("the bench gateway config");
    let loaded = LoadedConfig {
        config,
        source: ConfigSource::Embedded,
    };
    let (server, _state) = gateway::build(None, loaded).expect("building the gateway");
    targets.push(Target {
        name: "gateway",
        addr: listen,
        _keep: Box::new(RunningServer::start(server).expect("starting the gateway")),
    });

    for (name, start) in [
        ("nginx", ExternalProxy::nginx as fn(SocketAddr) -> _),
        ("haproxy", ExternalProxy::haproxy),
    ] {
        if !installed(name) {
            eprintln!("proxies: {name} is not installed; skipped");
            continue;
        }
        match start(origin.addr()) {
            Ok(p) => targets.push(Target {
                name,
                addr: p.addr,
                _keep: Box::new(p),
            }),
            Err(e) => eprintln!("proxies: starting {name}: {e}; skipped"),
        }
    }
    targets
}

fn proxies(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let origin = Origin::start().expect("starting the origin");
    let targets = start_targets(&origin, dir.path());

    let mut group = c.benchmark_group("proxy_get_small");
    group.throughput(Throughput::Elements(1));
    for target in &targets {
        let mut client = runtime
            .block_on(Client::connect(target.addr, Duration::from_secs(10)))
            .unwrap_or_else(|e| panic!("{}: {e}", target.name));
        // Warm-up: the target must answer 200 with the origin's body.
        let answer = runtime.block_on(client.get("/"));
        assert_eq!(
            answer,
            Ok((200, BODY.len())),
            "{}: warm-up GET / did not get the origin's answer",
            target.name
        );
        group.bench_function(target.name, |b| {
            b.iter(|| {
                let answer = runtime.block_on(client.get("/"));
                assert!(
                    matches!(answer, Ok((200, _))),
                    "{}: {answer:?}",
                    target.name
                );
            })
        });
    }
    group.finish();
    drop(targets);
}

criterion_group!(benches, proxies);
criterion_main!(benches);
