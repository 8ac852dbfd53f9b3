//! `cargo xtask bench` flags.

use std::path::PathBuf;

pub(super) const USAGE: &str = "usage: cargo xtask bench [flags]

  --workers N         proxy workers (gateway threads, nginx worker_processes,
                      haproxy nbthread, pingora-bare threads); default 1
  --duration SECS     length of one measured wrk run; default 5
  --connections N     wrk connections; default 32
  --rounds N          interleaved rounds (A B C A B C ...); default 3
  --logs on|off|both  access logs to a file in every proxy (on), none (off),
                      or both sets one after the other; default on
  --body small|1k     response body size; default small
  --targets A,B,...   only these of direct, pingora-bare, gateway,
                      gateway-sysalloc (the gateway built with the system
                      allocator), gateway-full, gateway-cache-hit, nginx,
                      haproxy; default all but gateway-sysalloc
  --protocols A,B,... which protocol sets run: http1 (every target above),
                      https (keep-alive over TLS), https-handshake (a new
                      TLS connection per request), h2c (h2load, HTTP/2 with
                      prior knowledge); default: all (h2c skipped with a
                      note when h2load is missing). The https and h2c sets
                      measure direct, gateway and nginx
  --gateway-server KEY=VALUE,...
                      extra top-level config keys for every gateway target,
                      e.g. work_stealing=false,upstream_keepalive_pool_size=16
                      (threads: use --workers)
  --gateway-read-buffer SIZE
                      gateway.downstream.read_buffer for both gateway
                      targets (e.g. 0, 4KiB, 64KiB); default: as shipped
  --idle-conns N      idle keep-alive connections for the memory test
                      (0 skips it); default 2000
  --quick             smoke run: 1 s runs, 1 round, 200 idle connections
  --check FILE        fail when a ratio is more than 15% worse than in FILE
                      (e.g. benches/baseline.json)
  --cost              instead of wrk runs: allocations (heaptrack) and
                      instructions (valgrind callgrind) per request of
                      pingora-bare and the gateway targets
  --criterion         also run `cargo bench -p benches` (in-process comparison)
  --install-peers     apt-get install nginx haproxy wrk nghttp2-client first
";

/// Which access-log settings to run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Logs {
    On,
    Off,
    Both,
}

/// Parsed flags.
#[derive(Debug)]
pub(super) struct BenchArgs {
    pub workers: usize,
    pub duration_s: u64,
    pub connections: usize,
    pub rounds: usize,
    pub logs: Logs,
    pub body_1k: bool,
    pub targets: Option<Vec<String>>,
    /// Protocol sets to run, in [`PROTOCOLS`] order.
    pub protocols: Vec<&'static str>,
    /// `gateway.downstream.read_buffer` for the gateway targets.
    pub gateway_read_buffer: Option<String>,
    /// Extra top-level gateway config lines from `--gateway-server`.
    pub gateway_server_keys: Option<String>,
    pub idle_conns: usize,
    pub check: Option<PathBuf>,
    pub criterion: bool,
    pub install_peers: bool,
    /// Per-request allocations and instructions instead of wrk runs.
    pub cost: bool,
}

/// Every target, in run order.
pub(super) const TARGETS: [&str; 8] = [
    "direct",
    "pingora-bare",
    "gateway",
    "gateway-sysalloc",
    "gateway-full",
    "gateway-cache-hit",
    "nginx",
    "haproxy",
];

/// Every protocol set, in run order.
pub(super) const PROTOCOLS: [&str; 4] = ["http1", "https", "https-handshake", "h2c"];

fn positive(flag: &str, value: Option<&String>) -> Result<u64, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{flag} takes a positive number, got `{value}`"))
}

/// Parses the flags after `bench`.
pub(super) fn parse(args: &[String]) -> Result<BenchArgs, String> {
    let mut out = BenchArgs {
        workers: 1,
        duration_s: 5,
        connections: 32,
        rounds: 3,
        logs: Logs::On,
        body_1k: false,
        targets: None,
        protocols: PROTOCOLS.to_vec(),
        gateway_read_buffer: None,
        gateway_server_keys: None,
        idle_conns: 2000,
        check: None,
        criterion: false,
        cost: false,
        install_peers: false,
    };
    let mut quick = false;
    let (mut duration, mut rounds, mut idle) = (None, None, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--workers" => out.workers = positive(flag, it.next())? as usize,
            "--duration" => duration = Some(positive(flag, it.next())?),
            "--connections" => out.connections = positive(flag, it.next())? as usize,
            "--rounds" => rounds = Some(positive(flag, it.next())? as usize),
            "--idle-conns" => {
                let v = it.next().ok_or("--idle-conns needs a value")?;
                idle = Some(v.parse::<usize>().map_err(|_| {
                    format!("--idle-conns takes a number (0 skips the test), got `{v}`")
                })?);
            }
            "--logs" => {
                out.logs = match it.next().map(String::as_str) {
                    Some("on") => Logs::On,
                    Some("off") => Logs::Off,
                    Some("both") => Logs::Both,
                    other => return Err(format!("--logs takes on, off or both, got {other:?}")),
                }
            }
            "--body" => {
                out.body_1k = match it.next().map(String::as_str) {
                    Some("small") => false,
                    Some("1k") => true,
                    other => return Err(format!("--body takes small or 1k, got {other:?}")),
                }
            }
            "--targets" => {
                let list = it.next().ok_or("--targets needs a list")?;
                let names: Vec<String> = list.split(',').map(str::to_string).collect();
                if let Some(bad) = names.iter().find(|n| !TARGETS.contains(&n.as_str())) {
                    return Err(format!(
                        "--targets: unknown target `{bad}`; expected some of {}",
                        TARGETS.join(", ")
                    ));
                }
                out.targets = Some(names);
            }
            "--protocols" => {
                let list = it.next().ok_or("--protocols needs a list")?;
                let names: Vec<&str> = list.split(',').collect();
                if let Some(bad) = names.iter().find(|n| !PROTOCOLS.contains(n)) {
                    return Err(format!(
                        "--protocols: unknown protocol set `{bad}`; expected some of {}",
                        PROTOCOLS.join(", ")
                    ));
                }
                out.protocols = PROTOCOLS
                    .into_iter()
                    .filter(|p| names.contains(p))
                    .collect();
            }
            "--gateway-read-buffer" => {
                let v = it.next().ok_or("--gateway-read-buffer needs a size")?;
                if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(format!(
                        "--gateway-read-buffer takes a size such as 4KiB, got `{v}`"
                    ));
                }
                out.gateway_read_buffer = Some(v.clone());
            }
            "--gateway-server" => {
                let v = it.next().ok_or("--gateway-server needs KEY=VALUE,...")?;
                out.gateway_server_keys = Some(server_keys(v)?);
            }
            "--check" => {
                out.check = Some(PathBuf::from(it.next().ok_or("--check needs a file")?));
            }
            "--quick" => quick = true,
            "--criterion" => out.criterion = true,
            "--cost" => out.cost = true,
            "--install-peers" => out.install_peers = true,
            other => return Err(format!("unknown flag `{other}`")),
        }
    }
    out.duration_s = duration.unwrap_or(if quick { 1 } else { 5 });
    out.rounds = rounds.unwrap_or(if quick { 1 } else { 3 });
    out.idle_conns = idle.unwrap_or(if quick { 200 } else { 2000 });
    Ok(out)
}

/// `KEY=VALUE,...` as YAML lines `KEY: VALUE`; keys are lower-case
/// identifiers other than `threads` (set by `--workers`), values plain words.
fn server_keys(list: &str) -> Result<String, String> {
    let mut yaml = String::new();
    for pair in list.split(',') {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--gateway-server takes KEY=VALUE,..., got `{pair}`"))?;
        let key_ok = !key.is_empty()
            && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && key != "threads";
        let value_ok = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric());
        if !key_ok || !value_ok {
            return Err(format!(
                "--gateway-server: `{pair}` is not KEY=VALUE with a config key (not threads; use --workers) and a plain value"
            ));
        }
        yaml.push_str(&format!("{key}: {value}\n"));
    }
    Ok(yaml)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn defaults_and_quick() {
        let a = parse(&[]).unwrap();
        assert_eq!(
            (a.workers, a.duration_s, a.connections, a.rounds),
            (1, 5, 32, 3)
        );
        assert_eq!((a.logs, a.idle_conns), (Logs::On, 2000));
        assert_eq!(a.protocols, PROTOCOLS);
        let p = parse(&args("--protocols h2c,https")).unwrap();
        assert_eq!(p.protocols, ["https", "h2c"], "run order, not flag order");
        let q = parse(&args("--quick --rounds 2")).unwrap();
        assert_eq!((q.duration_s, q.rounds, q.idle_conns), (1, 2, 200));
    }

    #[test]
    fn gateway_server_keys_become_yaml_lines() {
        let a = parse(&args(
            "--gateway-server work_stealing=false,upstream_keepalive_pool_size=16",
        ))
        .unwrap();
        assert_eq!(
            a.gateway_server_keys.as_deref(),
            Some("work_stealing: false\nupstream_keepalive_pool_size: 16\n")
        );
    }

    #[test]
    fn bad_flags_are_named() {
        for (input, expect) in [
            ("--workers 0", "--workers takes a positive number, got `0`"),
            ("--duration", "--duration needs a value"),
            ("--logs maybe", "--logs takes on, off or both"),
            ("--targets gateway,envoy", "unknown target `envoy`"),
            ("--protocols https,h3", "unknown protocol set `h3`"),
            ("--protocols", "--protocols needs a list"),
            ("--frobnicate", "unknown flag `--frobnicate`"),
            (
                "--gateway-read-buffer 4:KiB",
                "--gateway-read-buffer takes a size",
            ),
            ("--gateway-server threads=2", "not threads; use --workers"),
            ("--gateway-server work_stealing", "takes KEY=VALUE"),
            ("--gateway-server a=b:c", "is not KEY=VALUE"),
        ] {
            let err = parse(&args(input)).unwrap_err();
            assert!(err.contains(expect), "{input}: {err}");
        }
    }
}
