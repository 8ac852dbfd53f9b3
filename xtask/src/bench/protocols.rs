//! The protocol sets beside the HTTP/1.1 one: HTTPS with keep-alive,
//! HTTPS with a new TLS connection (full handshake) per request, and h2c.
//! Each measures `direct` (the upstream's own HTTPS or h2c listener), the
//! gateway and nginx, in interleaved rounds like the HTTP/1.1 set.

use super::h2load;
use super::procs::{cpu_us, status_kib, Children, Pinning};
use super::report::Samples;
use super::targets::{self, RunSettings, Target};
use super::wrk::{self, WrkResult};
use super::{http, start_upstream};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The targets a protocol set measures, in run order.
pub(super) const SET_TARGETS: [&str; 3] = ["direct", "gateway", "nginx"];

/// How a set is loaded and described.
pub(super) fn describe(proto: &str, connections: usize) -> String {
    match proto {
        "https" => format!("HTTPS keep-alive (wrk -c{connections} over https://)"),
        "https-handshake" => format!(
            "HTTPS, a new TLS connection and full handshake per request (wrk -c{connections} -H \"Connection: close\" over https://, no session resumption)"
        ),
        "h2c" => format!(
            "h2c (h2load -c{} -m{}: HTTP/2 with prior knowledge, {connections} streams in flight)",
            connections.div_ceil(h2load::STREAMS).max(1),
            h2load::STREAMS
        ),
        other => other.to_string(),
    }
}

/// Whether the load tool of `proto` is installed; prints a note if not.
pub(super) fn available(proto: &str) -> bool {
    if proto == "h2c" && !super::has("h2load", "--version") {
        println!(
            "note: h2load is not installed; the h2c set is skipped (sudo apt-get install -y nghttp2-client, or --install-peers)"
        );
        return false;
    }
    true
}

/// Settings of one protocol set's run.
pub(super) struct SetRun<'a> {
    pub proto: &'static str,
    pub names: &'a [&'static str],
    pub bin_dir: &'a Path,
    pub dir: &'a Path,
    pub pinning: &'a Pinning,
    pub logs: bool,
    pub workers: usize,
    pub gateway_read_buffer: Option<&'a str>,
    pub connections: usize,
    pub duration_s: u64,
    pub rounds: usize,
}

/// One load run of `proto` against `target`.
fn load(run: &SetRun, target: &Target, duration_s: u64) -> Result<WrkResult, String> {
    match run.proto {
        "h2c" => h2load::run(
            &run.pinning.load,
            &format!("http://{}{}", target.addr, target.path),
            run.connections,
            duration_s,
            &run.dir.join(format!("h2load-{}.log", target.name)),
        ),
        proto => wrk::run(
            &run.pinning.load,
            &format!("https://{}{}", target.addr, target.path),
            run.connections,
            duration_s,
            if proto == "https-handshake" {
                &["-H", "Connection: close"]
            } else {
                &[]
            },
        ),
    }
}

/// The gateway listener of `proto` (YAML flow mapping).
fn gateway_listener(proto: &str, addr: SocketAddr, dir: &Path) -> String {
    if proto == "h2c" {
        format!("{{ address: \"{addr}\", h2c: true }}")
    } else {
        format!(
            "{{ address: \"{addr}\", tls: {{ cert: \"{}\", key: \"{}\" }} }}",
            dir.join("server.pem").display(),
            dir.join("server-key.pem").display()
        )
    }
}

/// nginx `listen` options and server lines of `proto`.
fn nginx_listener(proto: &str, dir: &Path) -> (&'static str, String) {
    if proto == "h2c" {
        // Without `ssl`, `http2` is HTTP/2 with prior knowledge only.
        ("http2 ", String::new())
    } else {
        (
            "ssl ",
            format!(
                // nginx before 1.23.4 leaves TLS 1.3 out of its default
                // `ssl_protocols`: enable it, as the gateway has it.
                "        ssl_certificate {};\n        ssl_certificate_key {};\n        \
                 ssl_protocols TLSv1.2 TLSv1.3;\n",
                dir.join("server.pem").display(),
                dir.join("server-key.pem").display()
            ),
        )
    }
}

/// Starts, warms up and measures one protocol set; stops everything.
pub(super) fn run_set(
    run: &SetRun,
    body_path: &str,
) -> Result<Vec<(&'static str, Samples)>, String> {
    let mut children = Children::default();
    let upstream = start_upstream(&mut children, run.bin_dir, run.dir, run.pinning, true)?;
    let settings = RunSettings {
        dir: run.dir,
        bin_dir: run.bin_dir,
        upstream: upstream.addr,
        workers: run.workers,
        logs: run.logs,
        body_1k: body_path.ends_with("1k"),
        gateway_read_buffer: run.gateway_read_buffer,
        pinning: run.pinning,
        wrapper: None,
        sysalloc: false,
        gateway_server_keys: None,
    };
    let mut running = Vec::new();
    for &name in run.names {
        let target = match name {
            "direct" => Target {
                name,
                addr: if run.proto == "h2c" {
                    upstream.h2c
                } else {
                    upstream.tls
                }
                .ok_or("bench-upstream printed no HTTPS or h2c address")?,
                path: body_path.into(),
                proc_index: Some(upstream.index),
                pids: vec![children.get(upstream.index).pid()],
            },
            "gateway" => {
                let addr = targets::free_port()?;
                let listener = gateway_listener(run.proto, addr, run.dir);
                let config = targets::gateway_yaml(&settings, name, &listener, targets::BARE_ROUTE);
                let cmd =
                    targets::gateway_cmd(&settings, name, run.bin_dir.join("gateway"), config)?;
                spawn(
                    &mut children,
                    run.dir,
                    name,
                    cmd,
                    libc::SIGKILL,
                    addr,
                    body_path,
                )?
            }
            "nginx" => {
                let addr = targets::free_port()?;
                let (options, extra) = nginx_listener(run.proto, run.dir);
                let cmd = targets::nginx_cmd(&settings, addr, "nginx.conf", options, &extra)?;
                spawn(
                    &mut children,
                    run.dir,
                    name,
                    cmd,
                    libc::SIGTERM,
                    addr,
                    body_path,
                )?
            }
            other => return Err(format!("the {} set has no target `{other}`", run.proto)),
        };
        running.push(target);
    }
    let warm_s = run.duration_s.min(2);
    for target in &mut running {
        let warm = http::connect(target.addr, Duration::from_secs(15))
            .and_then(|_| load(run, target, warm_s))
            .and_then(|r| match r {
                r if r.requests == 0 => Err("no request completed".to_string()),
                r if r.non_2xx > 0 || r.socket_errors > 0 => Err(format!(
                    "{} responses not 2xx/3xx, {} socket errors",
                    r.non_2xx, r.socket_errors
                )),
                _ => Ok(()),
            });
        if let Err(e) = warm {
            let tail = target
                .proc_index
                .map(|i| children.get(i).log_tail())
                .unwrap_or_default();
            return Err(format!(
                "{} ({}) failed its warm-up: {e}; its log ends with:\n{tail}",
                target.name, run.proto
            ));
        }
        targets::settle_pids(target);
    }
    children.check_alive()?;
    if run.proto != "h2c" {
        for target in &running {
            println!(
                "tls {:<8} {}",
                target.name,
                tls_summary(target.addr).unwrap_or_else(|| "(openssl s_client unavailable)".into())
            );
        }
    }
    let mut results: Vec<(&'static str, Samples)> = running
        .iter()
        .map(|t| (t.name, Samples::default()))
        .collect();
    for round in 1..=run.rounds {
        for (target, (_, samples)) in running.iter().zip(results.iter_mut()) {
            let before = cpu_us(&target.pids);
            let r = load(run, target, run.duration_s)?;
            let after = cpu_us(&target.pids);
            children.check_alive()?;
            if r.non_2xx > 0 {
                return Err(format!(
                    "{} ({}): {} responses were not 2xx/3xx in round {round}",
                    target.name, run.proto, r.non_2xx
                ));
            }
            if r.socket_errors > 0 {
                println!(
                    "note: {} ({}) round {round}: {} socket errors",
                    target.name, run.proto, r.socket_errors
                );
            }
            let cpu_per_req = (after - before) as f64 / r.requests.max(1) as f64;
            println!(
                "round {round} {:<15} {:<8} {:>9.0} req/s  p50 {:.3} ms  p99 {:.3} ms  {:.1} CPU us/req",
                run.proto, target.name, r.rps, r.p50_ms, r.p99_ms, cpu_per_req
            );
            samples.cpu_us_per_req.push(cpu_per_req);
            samples.rounds.push(r);
        }
    }
    for (target, (_, samples)) in running.iter().zip(results.iter_mut()) {
        samples.rss_kib = status_kib(&target.pids, "VmHWM:");
    }
    children.check_alive()?;
    drop(children);
    Ok(results)
}

fn spawn(
    children: &mut Children,
    dir: &Path,
    name: &'static str,
    cmd: Command,
    stop_signal: i32,
    addr: SocketAddr,
    path: &str,
) -> Result<Target, String> {
    let log = dir.join(format!("{name}.log"));
    let index = children.spawn(name, cmd, &log, false, stop_signal)?;
    Ok(Target {
        name,
        addr,
        path: path.into(),
        proc_index: Some(index),
        pids: vec![children.get(index).pid()],
    })
}

/// What the local OpenSSL client (the one wrk links) negotiates with
/// `addr`: version, cipher suite, key exchange group, signature type.
fn tls_summary(addr: SocketAddr) -> Option<String> {
    let out = Command::new("openssl")
        .args(["s_client", "-brief", "-connect"])
        .arg(addr.to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    Some(summarize_s_client(&String::from_utf8_lossy(&out.stderr))).filter(|s| !s.is_empty())
}

/// Picks the negotiated parameters out of `openssl s_client -brief`.
pub(super) fn summarize_s_client(text: &str) -> String {
    [
        "Protocol version:",
        "Ciphersuite:",
        "Server Temp Key:",
        "Peer signature type:",
    ]
    .iter()
    .filter_map(|key| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim().to_string())
    })
    .collect::<Vec<_>>()
    .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s_client_summary_keeps_the_negotiated_parameters() {
        let text = "CONNECTION ESTABLISHED
Protocol version: TLSv1.3
Ciphersuite: TLS_AES_256_GCM_SHA384
Peer certificate: CN = localhost
Hash used: SHA256
Signature type: ECDSA
Verification error: unable to verify the first certificate
Peer signature type: ECDSA
Server Temp Key: X25519, 253 bits
DONE
";
        assert_eq!(
            summarize_s_client(text),
            "TLSv1.3, TLS_AES_256_GCM_SHA384, X25519, 253 bits, ECDSA"
        );
    }

    #[test]
    fn listeners_per_protocol() {
        let dir = Path::new("/tmp/run");
        let addr: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        assert_eq!(
            gateway_listener("h2c", addr, dir),
            "{ address: \"127.0.0.1:8443\", h2c: true }"
        );
        assert!(gateway_listener("https", addr, dir)
            .contains("tls: { cert: \"/tmp/run/server.pem\", key: \"/tmp/run/server-key.pem\" }"));
        assert_eq!(nginx_listener("h2c", dir).0, "http2 ");
        let (options, lines) = nginx_listener("https-handshake", dir);
        assert_eq!(options, "ssl ");
        assert!(lines.contains("ssl_certificate_key /tmp/run/server-key.pem;"));
    }
}
