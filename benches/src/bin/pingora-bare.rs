//! `pingora-bare --listen ADDR --upstream ADDR [--threads N] [--access-log]`:
//! the bare Pingora proxy of the benchmarks as its own process, built from
//! the same Pingora version and release profile as the gateway.

use std::net::SocketAddr;
use std::process::ExitCode;

/// The same allocator as the shipped `gateway` binary (feature `mimalloc`).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str =
    "usage: pingora-bare --listen ADDR --upstream ADDR [--threads N] [--access-log]";

struct Args {
    listen: SocketAddr,
    upstream: SocketAddr,
    threads: usize,
    access_log: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let (mut listen, mut upstream, mut threads, mut access_log) = (None, None, 1, false);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--listen" => listen = Some(addr(&value("--listen")?)?),
            "--upstream" => upstream = Some(addr(&value("--upstream")?)?),
            "--threads" => {
                let v = value("--threads")?;
                threads = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--threads takes a positive number, got `{v}`"))?;
            }
            "--access-log" => access_log = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Args {
        listen: listen.ok_or("--listen is required")?,
        upstream: upstream.ok_or("--upstream is required")?,
        threads,
        access_log,
    })
}

fn addr(s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("expected IP:port, got `{s}`"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok(a) => benches::bare::server(a.listen, a.upstream, a.threads, a.access_log).run_forever(),
        Err(e) => {
            eprintln!("pingora-bare: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
