//! Runs wrk and reads its report.

use std::process::Command;

/// What one wrk run measured.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct WrkResult {
    pub rps: f64,
    pub requests: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
    pub socket_errors: u64,
}

/// Reads `wrk --latency` output.
pub(super) fn parse(out: &str) -> Result<WrkResult, String> {
    let value_after = |prefix: &str| {
        out.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let rps = value_after("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or("no `Requests/sec:` line")?;
    let requests = out
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .ok_or("no `N requests in` line")?;
    let p50_ms = value_after("50%")
        .and_then(latency_ms)
        .ok_or("no 50% latency (was --latency given?)")?;
    let p99_ms = value_after("99%")
        .and_then(latency_ms)
        .ok_or("no 99% latency")?;
    let non_2xx = value_after("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let socket_errors = value_after("Socket errors:")
        .map(|v| {
            v.split(',')
                .filter_map(|kv| kv.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Ok(WrkResult {
        rps,
        requests,
        p50_ms,
        p99_ms,
        non_2xx,
        socket_errors,
    })
}

/// `283.00us`, `1.02ms`, `1.50s` in milliseconds.
fn latency_ms(v: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.trim().parse::<f64>().ok().map(|n| n * factor)
}

/// Runs `wrk --latency` (plus `extra` arguments, such as a header)
/// against `url` for `duration_s` and parses it.
pub(super) fn run(
    cpus: &Option<String>,
    url: &str,
    connections: usize,
    duration_s: u64,
    extra: &[&str],
) -> Result<WrkResult, String> {
    let mut cmd = super::procs::pinned(cpus, std::path::Path::new("wrk"));
    cmd.args(["-t1", "--latency"])
        .args(extra)
        .arg(format!("-c{connections}"))
        .arg(format!("-d{duration_s}s"))
        .arg(url);
    let output = run_output(cmd)?;
    parse(&output).map_err(|e| format!("wrk {url}: {e}; its output:\n{output}"))
}

fn run_output(mut cmd: Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 5s test @ http://127.0.0.1:40000/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.21ms  301.22us   9.80ms   91.00%
    Req/Sec    26.50k     1.10k   28.00k    80.00%
  Latency Distribution
     50%  283.00us
     75%    1.30ms
     90%    1.50ms
     99%    2.02ms
  131872 requests in 5.00s, 14.21MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:  26374.40
Transfer/sec:      2.84MB
";

    #[test]
    fn reads_rate_latencies_and_errors() {
        let r = parse(SAMPLE).unwrap();
        assert_eq!(r.rps, 26374.40);
        assert_eq!(r.requests, 131872);
        assert!((r.p50_ms - 0.283).abs() < 1e-9, "{}", r.p50_ms);
        assert!((r.p99_ms - 2.02).abs() < 1e-9, "{}", r.p99_ms);
        assert_eq!((r.non_2xx, r.socket_errors), (3, 3));
    }

    #[test]
    fn missing_latency_is_an_error() {
        let without: String = SAMPLE
            .lines()
            .filter(|l| !l.contains('%') || l.contains("Stdev"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(parse(&without).unwrap_err().contains("50%"));
    }
}
