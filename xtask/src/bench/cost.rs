//! `cargo xtask bench --cost`: allocations (heaptrack) and instructions
//! (callgrind) per request for each proxy target. Repeatable where wrk's
//! req/s is not: each target runs twice under each tool, with a small and a
//! large fixed number of sequential keep-alive GETs, and the difference is
//! divided by the difference in requests, so start-up and shutdown cancel.
//! Allocations are counted on the system-allocator builds (heaptrack hooks
//! malloc; mimalloc bypasses it), instructions on the shipped builds.

use super::http;
use super::procs::{children_of, Children, Pinning};
use super::targets::{self, RunSettings};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Requests of the short and the long run.
pub(super) const SHORT: u64 = 200;
pub(super) const LONG: u64 = 1200;

/// Longest wait for a target to answer under a tool (callgrind is slow).
const READY_WITHIN: Duration = Duration::from_secs(120);

/// The proxies measured (not `direct`, nginx or haproxy: the point is the
/// gateway's own cost beside Pingora's floor).
pub(super) const COST_TARGETS: [&str; 4] = [
    "pingora-bare",
    "gateway",
    "gateway-full",
    "gateway-cache-hit",
];

/// A profiler run around the target.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Heaptrack,
    Callgrind,
}

impl Tool {
    fn available(self) -> bool {
        let (program, flag) = match self {
            Tool::Heaptrack => ("heaptrack", "--version"),
            Tool::Callgrind => ("valgrind", "--version"),
        };
        Command::new(program)
            .arg(flag)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn package(self) -> &'static str {
        match self {
            Tool::Heaptrack => "heaptrack",
            Tool::Callgrind => "valgrind",
        }
    }

    /// The wrapper command line writing its profile to `out`.
    fn wrapper(self, out: &Path) -> Vec<String> {
        match self {
            Tool::Heaptrack => vec!["heaptrack".into(), "-o".into(), out.display().to_string()],
            Tool::Callgrind => vec![
                "valgrind".into(),
                "--tool=callgrind".into(),
                format!("--callgrind-out-file={}", out.display()),
            ],
        }
    }
}

/// Per-request cost of one target.
#[derive(Debug, Default)]
pub(super) struct Cost {
    pub allocations: Option<f64>,
    pub instructions: Option<f64>,
}

/// Measures every chosen proxy target; prints and returns the table rows.
pub(super) fn run(
    names: &[&'static str],
    bin_dir: &Path,
    dir: &Path,
    upstream: std::net::SocketAddr,
    logs: bool,
) -> Result<Vec<(&'static str, Cost)>, String> {
    let tools: Vec<Tool> = [Tool::Heaptrack, Tool::Callgrind]
        .into_iter()
        .filter(|t| {
            let ok = t.available();
            if !ok {
                println!(
                    "note: {} is not installed; skipped (sudo apt-get install -y {})",
                    t.package(),
                    t.package()
                );
            }
            ok
        })
        .collect();
    let no_pinning = Pinning::plan(usize::MAX);
    let mut rows = Vec::new();
    for &name in names.iter().filter(|n| COST_TARGETS.contains(n)) {
        let mut cost = Cost::default();
        for &tool in &tools {
            let settings = RunSettings {
                dir,
                bin_dir,
                upstream,
                workers: 1,
                logs,
                body_1k: false,
                gateway_read_buffer: None,
                pinning: &no_pinning,
                wrapper: None,
                // heaptrack sees only malloc: count allocations on the
                // system-allocator builds (the same Rust allocations, not
                // mimalloc's internal work); instructions on the shipped ones.
                sysalloc: tool == Tool::Heaptrack,
                gateway_server_keys: None,
            };
            let short = profile(name, tool, SHORT, &settings)?;
            let long = profile(name, tool, LONG, &settings)?;
            let per = Some((long as f64 - short as f64) / (LONG - SHORT) as f64);
            match tool {
                Tool::Heaptrack => cost.allocations = per,
                Tool::Callgrind => cost.instructions = per,
            }
        }
        println!("  {name:<18} {}", format_cost(&cost));
        rows.push((name, cost));
    }
    Ok(rows)
}

/// One line of the table.
pub(super) fn format_cost(c: &Cost) -> String {
    let f = |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    format!(
        "allocations/req {:>8}  instructions/req {:>9}",
        f(c.allocations, 1),
        f(c.instructions, 0)
    )
}

/// Runs `name` under `tool` for `requests` GETs; returns the allocation
/// calls (heaptrack) or instructions (callgrind) of the whole run.
#[allow(unsafe_code)] // libc calls for process control, each with its SAFETY note
fn profile(
    name: &'static str,
    tool: Tool,
    requests: u64,
    base: &RunSettings,
) -> Result<u64, String> {
    let out = base
        .dir
        .join(format!("cost-{name}-{tool:?}-{requests}").to_lowercase());
    let wrapper = tool.wrapper(&out);
    let settings = RunSettings {
        wrapper: Some(&wrapper),
        ..*base
    };
    let mut children = Children::default();
    let target = targets::start(name, &settings, &mut children)?;
    let index = target.proc_index.ok_or("cost: target without a process")?;
    let result = drive(&target.addr, &target.path, requests);
    // SIGINT: Pingora's fast shutdown; the tool writes its profile at exit.
    let wrapper_pid = children.get(index).pid();
    let mut pids = children_of(wrapper_pid);
    pids.push(wrapper_pid);
    for pid in pids {
        // SAFETY: signalling our own child (and its children) by pid.
        unsafe {
            libc::kill(pid as i32, libc::SIGINT);
        }
    }
    let exited = children.get_mut(index).wait_exit(Duration::from_secs(60));
    if let Err(e) = result {
        return Err(format!(
            "{name} under {tool:?}: {e}; its log ends with:\n{}",
            children.get(index).log_tail()
        ));
    }
    if !exited {
        return Err(format!("{name} under {tool:?} did not exit after SIGINT"));
    }
    match tool {
        Tool::Heaptrack => heaptrack_calls(&out),
        Tool::Callgrind => callgrind_total(&out),
    }
}

/// Waits for the target, then sends `requests` GETs on one connection.
fn drive(addr: &std::net::SocketAddr, path: &str, requests: u64) -> Result<(), String> {
    let deadline = Instant::now() + READY_WITHIN;
    let mut stream = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("not listening on {addr}: {e}")),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    for i in 0..requests {
        let status = http::get(&mut stream, path)?;
        if status != 200 {
            return Err(format!("request {i}: status {status}"));
        }
    }
    Ok(())
}

/// The heaptrack file written for output prefix `out` (it appends
/// `.zst` or `.gz`).
fn heaptrack_file(out: &Path) -> Result<PathBuf, String> {
    let dir = out.parent().ok_or("cost: no output directory")?;
    let prefix = out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("cost: bad output name")?;
    std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .ok_or_else(|| format!("heaptrack wrote no {}.*", out.display()))
}

/// Allocation calls from `heaptrack_print`'s summary.
fn heaptrack_calls(out: &Path) -> Result<u64, String> {
    let file = heaptrack_file(out)?;
    let output = Command::new("heaptrack_print")
        .arg("--print-peaks=0")
        .arg("--print-allocators=0")
        .arg("--print-temporary=0")
        .arg("--print-leaks=0")
        .arg(&file)
        .output()
        .map_err(|e| format!("heaptrack_print: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_heaptrack_calls(&text)
        .ok_or_else(|| format!("heaptrack_print {}: no totals in:\n{text}", file.display()))
}

/// Reads `calls to allocation functions: N (…/s)`.
pub(super) fn parse_heaptrack_calls(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("calls to allocation functions:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Total instructions (`summary:` or `totals:` line) of a callgrind file.
fn callgrind_total(out: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(out).map_err(|e| format!("{}: {e}", out.display()))?;
    parse_callgrind_total(&text).ok_or_else(|| format!("{}: no totals line", out.display()))
}

/// The first event count of the `summary:` (or `totals:`) line.
pub(super) fn parse_callgrind_total(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heaptrack_allocation_calls_are_read() {
        let text = "total runtime: 3.21s.\n\
            calls to allocation functions: 123456 (38459/s)\n\
            temporary memory allocations: 100 (31/s)\n";
        assert_eq!(parse_heaptrack_calls(text), Some(123456));
        assert_eq!(parse_heaptrack_calls("nothing"), None);
    }

    #[test]
    fn callgrind_totals_line_is_read() {
        let text = "version: 1\nevents: Ir\nsummary: 987654321\n";
        assert_eq!(parse_callgrind_total(text), Some(987654321));
        assert_eq!(parse_callgrind_total("totals: 5\n"), Some(5));
        assert_eq!(parse_callgrind_total("events: Ir\n"), None);
    }
}
