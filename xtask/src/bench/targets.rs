//! The things measured: how each is configured, started and found in /proc.

use super::procs::{children_of, pinned, wrapped, Children, Pinning};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

const NGINX_TEMPLATE: &str = include_str!("templates/nginx.conf");
const HAPROXY_TEMPLATE: &str = include_str!("templates/haproxy.cfg");

/// Settings shared by every target of one run.
pub(super) struct RunSettings<'a> {
    pub dir: &'a Path,
    pub bin_dir: &'a Path,
    pub upstream: SocketAddr,
    pub workers: usize,
    pub logs: bool,
    pub body_1k: bool,
    /// `gateway.downstream.read_buffer` for the gateway targets.
    pub gateway_read_buffer: Option<&'a str>,
    pub pinning: &'a Pinning,
    /// A profiler command line the target runs under (`--cost`).
    pub wrapper: Option<&'a [String]>,
    /// Run `gateway-sysalloc` and `pingora-bare-sysalloc` (system
    /// allocator) for every gateway target and pingora-bare (heaptrack).
    pub sysalloc: bool,
    /// Extra top-level gateway config lines (`--gateway-server`).
    pub gateway_server_keys: Option<&'a str>,
}

/// The binary of `name` (`gateway`, `pingora-bare`) for these settings.
fn binary(s: &RunSettings, name: &str) -> PathBuf {
    if s.sysalloc {
        s.bin_dir.join(format!("{name}-sysalloc"))
    } else {
        s.bin_dir.join(name)
    }
}

/// A started target.
pub(super) struct Target {
    pub name: &'static str,
    pub addr: SocketAddr,
    /// Path wrk requests.
    pub path: String,
    /// Index in [`Children`]; `None` for `direct` (the upstream itself).
    pub proc_index: Option<usize>,
    /// The processes that do the work (nginx: its workers).
    pub pids: Vec<u32>,
}

/// Replaces every `{{key}}` of `template`.
pub(super) fn render(template: &str, values: &[(&str, String)]) -> String {
    values
        .iter()
        .fold(template.to_string(), |text, (key, value)| {
            text.replace(&format!("{{{{{key}}}}}"), value)
        })
}

/// A loopback port free right now.
pub(super) fn free_port() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("finding a free port: {e}"))
}

fn body_path(s: &RunSettings) -> &'static str {
    if s.body_1k {
        "/1k"
    } else {
        "/"
    }
}

/// Gateway keys that differ from the shipped defaults: `access_log: off`
/// when logs are off, and `--gateway-read-buffer`.
fn downstream_block(s: &RunSettings) -> String {
    let mut block = String::new();
    if !s.logs {
        block.push_str("  access_log: off\n");
    }
    if let Some(size) = s.gateway_read_buffer {
        block.push_str(&format!("  downstream: {{ read_buffer: {size} }}\n"));
    }
    block
}

/// A gateway config for target `name`: server keys, one listener (a YAML
/// flow mapping), the `origin` cluster and the given `routes:` entries
/// (YAML list items, indented four spaces).
pub(super) fn gateway_yaml(s: &RunSettings, name: &str, listener: &str, routes: &str) -> String {
    format!(
        r#"version: 1
threads: {workers}
pid_file: "{dir}/{name}.pid"
upgrade_sock: "{dir}/{name}-upgrade.sock"
grace_period_seconds: 0
graceful_shutdown_timeout_seconds: 1
{server_keys}gateway:
  listeners: [ {listener} ]
{downstream}  clusters:
    origin: {{ endpoints: [ {{ address: "{upstream}" }} ] }}
  routes:
{routes}"#,
        workers = s.workers,
        dir = s.dir.display(),
        upstream = s.upstream,
        downstream = downstream_block(s),
        server_keys = s.gateway_server_keys.unwrap_or(""),
    )
}

/// A plaintext HTTP/1.1 listener.
fn plain(listen: SocketAddr) -> String {
    format!("{{ address: \"{listen}\" }}")
}

/// One bare route, as an operator would write it.
pub(super) const BARE_ROUTE: &str =
    "    - { name: bench, match: { path_prefix: / }, cluster: origin }\n";

fn gateway_config(s: &RunSettings, name: &str, listen: SocketAddr) -> String {
    gateway_yaml(s, name, &plain(listen), BARE_ROUTE)
}

/// A route that does the per-request work a real API route does: prefix
/// rewrite, query edits, request and response header rules, an API key
/// (in the query, so wrk needs no header; stripped before the upstream)
/// and a GCRA limit keyed by client and route that never refuses.
fn gateway_full_config(s: &RunSettings, listen: SocketAddr) -> String {
    gateway_yaml(
        s,
        "gateway-full",
        &plain(listen),
        r#"    - name: other
      match: { path_prefix: /other }
      cluster: origin
    - name: api
      match: { path_prefix: /api, methods: [GET, HEAD] }
      cluster: origin
      rewrite: { strip_prefix: true }
      query:
        remove: [utm_source, utm_medium]
        set: { ref: gateway }
      request_headers:
        remove: [cookie]
        set: { x-gateway: bench, x-env: prod }
        add: { x-trace: "1" }
      response_headers:
        remove: [x-powered-by]
        set: { x-served-by: gateway, cache-control: no-store }
        add: { x-frame-options: DENY }
      auth: { kind: api_key, query: key, keys: [ { name: bench, key: bench-key-0123456789 } ], forward_as: x-client }
      limits: { gcra: { key: client_ip+route, rate: 1000000/s, burst: 1000000 } }
"#,
    )
}

/// The bare route with the response cache on: after the warm-up request
/// fills it, every measured request is a hit (the upstream sends no
/// freshness, so the route's `ttl` applies).
fn gateway_cache_hit_config(s: &RunSettings, listen: SocketAddr) -> String {
    gateway_yaml(
        s,
        "gateway-cache-hit",
        &plain(listen),
        "    - { name: bench, match: { path_prefix: / }, cluster: origin, cache: { ttl: 1h } }\n",
    )
}

/// Writes `config` as `NAME.yaml` and returns the gateway command for it.
pub(super) fn gateway_cmd(
    s: &RunSettings,
    name: &str,
    bin: PathBuf,
    config: String,
) -> Result<std::process::Command, String> {
    let path = s.dir.join(format!("{name}.yaml"));
    std::fs::write(&path, config).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut cmd = pinned(&s.pinning.proxy, &bin);
    cmd.arg("-c").arg(&path);
    // As shipped: the access log goes to stderr, which the caller sends to
    // a file. Logs off: `access_log: off` in the config, warnings only.
    cmd.env("RUST_LOG", if s.logs { "info" } else { "warn" });
    Ok(cmd)
}

/// Starts the named target (not `direct`, which is the upstream itself).
pub(super) fn start(
    name: &'static str,
    s: &RunSettings,
    children: &mut Children,
) -> Result<Target, String> {
    let addr = free_port()?;
    let log = s.dir.join(format!("{name}.log"));
    let mut path = body_path(s).to_string();
    let (cmd, stop_signal) = match name {
        "pingora-bare" => {
            let mut cmd = pinned(&s.pinning.proxy, &binary(s, "pingora-bare"));
            cmd.arg("--listen")
                .arg(addr.to_string())
                .arg("--upstream")
                .arg(s.upstream.to_string())
                .arg("--threads")
                .arg(s.workers.to_string());
            if s.logs {
                cmd.arg("--access-log");
            }
            (cmd, libc::SIGKILL)
        }
        "gateway" => (
            gateway_cmd(s, name, binary(s, "gateway"), gateway_config(s, name, addr))?,
            libc::SIGKILL,
        ),
        // The bare route on the gateway built with the system allocator.
        "gateway-sysalloc" => (
            gateway_cmd(
                s,
                name,
                s.bin_dir.join("gateway-sysalloc"),
                gateway_config(s, name, addr),
            )?,
            libc::SIGKILL,
        ),
        "gateway-full" => {
            path = format!(
                "/api{}?utm_source=bench&keep=1&utm_medium=x&key=bench-key-0123456789",
                if s.body_1k { "/1k" } else { "/items" }
            );
            (
                gateway_cmd(s, name, binary(s, "gateway"), gateway_full_config(s, addr))?,
                libc::SIGKILL,
            )
        }
        "gateway-cache-hit" => (
            gateway_cmd(
                s,
                name,
                binary(s, "gateway"),
                gateway_cache_hit_config(s, addr),
            )?,
            libc::SIGKILL,
        ),
        "nginx" => (nginx_cmd(s, addr, "nginx.conf", "", "")?, libc::SIGTERM),
        "haproxy" => {
            let (global_log, defaults_log) = if s.logs {
                (
                    "    log stdout format raw local0 info".to_string(),
                    "    log global\n    option httplog".to_string(),
                )
            } else {
                (String::new(), String::new())
            };
            let conf = render(
                HAPROXY_TEMPLATE,
                &[
                    ("workers", s.workers.to_string()),
                    ("listen", addr.to_string()),
                    ("upstream", s.upstream.to_string()),
                    ("global_log", global_log),
                    ("defaults_log", defaults_log),
                ],
            );
            let conf_path = write(s.dir, "haproxy.cfg", &conf)?;
            let mut cmd = pinned(&s.pinning.proxy, Path::new("haproxy"));
            // -db: foreground, one process; with logs on, its log lines go
            // to stdout, which is the log file.
            cmd.arg("-db").arg("-f").arg(conf_path);
            (cmd, libc::SIGKILL)
        }
        other => return Err(format!("unknown target `{other}`")),
    };
    let cmd = match s.wrapper {
        Some(wrapper) => wrapped(cmd, wrapper),
        None => cmd,
    };
    let index = children.spawn(name, cmd, &log, false, stop_signal)?;
    Ok(Target {
        name,
        addr,
        path,
        proc_index: Some(index),
        pids: vec![children.get(index).pid()],
    })
}

/// Writes an nginx config named `conf_name` for a listener on `addr`
/// (with `listen_options` such as `ssl ` and the `server_extra` lines) and
/// returns the command; SIGTERM stops it (the master stops its workers,
/// then exits).
pub(super) fn nginx_cmd(
    s: &RunSettings,
    addr: SocketAddr,
    conf_name: &str,
    listen_options: &str,
    server_extra: &str,
) -> Result<std::process::Command, String> {
    let conf = nginx_conf(s, addr, listen_options, server_extra);
    let conf_path = write(s.dir, conf_name, &conf)?;
    let mut cmd = pinned(&s.pinning.proxy, Path::new("nginx"));
    cmd.arg("-p")
        .arg(s.dir)
        .arg("-e")
        .arg(s.dir.join("nginx-error.log"))
        .arg("-c")
        .arg(conf_path);
    Ok(cmd)
}

/// The nginx config text of [`nginx_cmd`].
fn nginx_conf(
    s: &RunSettings,
    addr: SocketAddr,
    listen_options: &str,
    server_extra: &str,
) -> String {
    let access_log = if s.logs {
        format!("{}/nginx-access.log combined buffer=64k", s.dir.display())
    } else {
        "off".into()
    };
    render(
        NGINX_TEMPLATE,
        &[
            ("workers", s.workers.to_string()),
            ("dir", s.dir.display().to_string()),
            ("listen", addr.to_string()),
            ("listen_options", listen_options.to_string()),
            ("server_extra", server_extra.to_string()),
            ("upstream", s.upstream.to_string()),
            ("access_log", access_log),
        ],
    )
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// After the warm-up: nginx's work happens in its workers, not the master.
pub(super) fn settle_pids(target: &mut Target) {
    if target.name.starts_with("nginx") {
        if let Some(&master) = target.pids.first() {
            let workers = children_of(master);
            if !workers.is_empty() {
                target.pids = workers;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_config_fills_every_placeholder_for_each_listener_kind() {
        let pinning = Pinning {
            proxy: None,
            load: None,
            note: String::new(),
        };
        let s = RunSettings {
            dir: Path::new("/tmp/run"),
            bin_dir: Path::new("/tmp/bin"),
            upstream: "127.0.0.1:9000".parse().unwrap(),
            workers: 1,
            logs: false,
            body_1k: false,
            gateway_read_buffer: None,
            pinning: &pinning,
            wrapper: None,
            sysalloc: false,
            gateway_server_keys: None,
        };
        let addr: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        for (options, extra, listen) in [
            ("", "", "listen 127.0.0.1:8443 backlog=4096;"),
            (
                "ssl ",
                "        ssl_certificate c.pem;\n",
                "listen 127.0.0.1:8443 ssl backlog=4096;",
            ),
            ("http2 ", "", "listen 127.0.0.1:8443 http2 backlog=4096;"),
        ] {
            let conf = nginx_conf(&s, addr, options, extra);
            assert!(!conf.contains("{{"), "unfilled placeholder in:\n{conf}");
            assert!(conf.contains(listen), "{listen} missing in:\n{conf}");
            assert!(
                conf.contains(&format!("{listen}\n{extra}        location / {{")),
                "{conf}"
            );
        }
    }
}
