//! Runs h2load (HTTP/2 with prior knowledge, `nghttp2-client`) and reads
//! its summary; latency percentiles come from its per-request log file,
//! since the summary only has min, max, mean and deviation.

use super::wrk::WrkResult;
use std::path::Path;

/// Reads the summary h2load prints (rate and request counts) and the
/// per-request `--log-file` (tab-separated: start time, status,
/// microseconds until the end of the response).
pub(super) fn parse(out: &str, log: &str) -> Result<WrkResult, String> {
    let rps = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("finished in "))
        .and_then(|rest| rest.split(", ").nth(1)?.strip_suffix(" req/s"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or("no `finished in ..., N req/s` line")?;
    let counts = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("requests: "))
        .ok_or("no `requests:` line")?;
    let count = |what: &str| -> Result<u64, String> {
        counts
            .split(", ")
            .find_map(|kv| kv.trim().strip_suffix(what)?.trim().parse().ok())
            .ok_or_else(|| format!("no `N {what}` in `requests: {counts}`"))
    };
    let succeeded = count("succeeded")?;
    let failed = count("failed")? + count("errored")? + count("timeout")?;
    let status = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("status codes: "))
        .ok_or("no `status codes:` line")?;
    let non_2xx: u64 = status
        .split(", ")
        .filter(|kv| !kv.ends_with(" 2xx") && !kv.ends_with(" 3xx"))
        .map(|kv| {
            kv.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| format!("unreadable status count `{kv}`"))
        })
        .sum::<Result<u64, String>>()?;
    let mut micros: Vec<f64> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split('\t')
                .nth(2)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .ok_or_else(|| format!("log line `{l}` has no response time (third column)"))
        })
        .collect::<Result<_, _>>()?;
    if micros.is_empty() {
        return Err("the per-request log is empty".into());
    }
    micros.sort_by(|a, b| a.total_cmp(b));
    let percentile = |p: f64| micros[((micros.len() - 1) as f64 * p).round() as usize] / 1000.0;
    Ok(WrkResult {
        rps,
        requests: succeeded,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        non_2xx,
        socket_errors: failed,
    })
}

/// Streams per connection: `connections` requests in flight over
/// `connections / STREAMS` HTTP/2 connections, as many as wrk keeps.
pub(super) const STREAMS: usize = 8;

/// Runs `h2load` against `url` for `duration_s` seconds; `log` is the
/// per-request log file it writes.
pub(super) fn run(
    cpus: &Option<String>,
    url: &str,
    connections: usize,
    duration_s: u64,
    log: &Path,
) -> Result<WrkResult, String> {
    let conns = connections.div_ceil(STREAMS).max(1);
    let mut cmd = super::procs::pinned(cpus, Path::new("h2load"));
    cmd.args(["-t1"])
        .arg(format!("-c{conns}"))
        .arg(format!("-m{STREAMS}"))
        .arg(format!("-D{duration_s}"))
        .arg(format!("--log-file={}", log.display()))
        .arg(url);
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}):\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let log_text = std::fs::read_to_string(log).map_err(|e| format!("{}: {e}", log.display()))?;
    parse(&text, &log_text).map_err(|e| format!("h2load {url}: {e}; its output:\n{text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "starting benchmark...
Application protocol: h2c
Main benchmark duration is over for thread #0. Stopping all clients.

finished in 1.00s, 22104.00 req/s, 820.71KB/s
requests: 22104 total, 22136 started, 22104 done, 22100 succeeded, 4 failed, 1 errored, 2 timeout
status codes: 22100 2xx, 1 3xx, 2 4xx, 1 5xx
traffic: 820.71KB (840404) total, 172.91KB (177064) headers (space savings 90.79%), 259.03KB (265248) data
                     min         max         mean         sd        +/- sd
time for request:      550us      8.59ms      1.43ms       879us    92.58%
req/s           :    5508.49     5532.17     5522.31        9.93    75.00%
";

    /// 100 requests taking 1..=100 ms.
    fn log() -> String {
        (1..=100)
            .map(|i| format!("1795720638132100\t200\t{}\n", i * 1000))
            .collect()
    }

    #[test]
    fn reads_rate_counts_and_percentiles_from_the_log() {
        let r = parse(SAMPLE, &log()).unwrap();
        assert_eq!(r.rps, 22104.0);
        assert_eq!(r.requests, 22100);
        assert_eq!((r.non_2xx, r.socket_errors), (3, 7));
        // Index round(99 * 0.5) = 50 -> 51 ms; round(99 * 0.99) = 98 -> 99 ms.
        assert_eq!((r.p50_ms, r.p99_ms), (51.0, 99.0));
    }

    #[test]
    fn wrong_output_is_an_error_naming_what_is_missing() {
        let no_rate = SAMPLE.replace(", 22104.00 req/s", "");
        assert!(parse(&no_rate, &log()).unwrap_err().contains("req/s"));
        let no_counts = SAMPLE.replace("22100 succeeded", "22100 ok");
        assert!(parse(&no_counts, &log()).unwrap_err().contains("succeeded"));
        assert!(parse(SAMPLE, "").unwrap_err().contains("empty"));
        assert!(parse(SAMPLE, "1\t200\n")
            .unwrap_err()
            .contains("third column"));
    }
}
