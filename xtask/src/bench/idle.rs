//! Memory held per idle keep-alive connection, and whether a second wave
//! of connections reuses the memory the first one left behind.

use super::http;
use super::procs::{fd_count, status_kib};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Resident memory before, during and after two waves of idle connections.
#[derive(Clone, Debug)]
pub(super) struct IdleResult {
    pub conns: usize,
    pub kib_per_conn: f64,
    /// RSS growth of the second wave over the RSS after the first closed.
    pub second_wave_growth_kib: i64,
    /// RSS after the second wave minus RSS at the first wave's peak.
    pub second_over_first_kib: i64,
}

/// Opens `n` connections to `addr`, each after one GET so it is an idle
/// keep-alive connection the proxy has fully set up.
fn open_wave(addr: SocketAddr, path: &str, n: usize) -> Result<Vec<TcpStream>, String> {
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = http::connect(addr, Duration::from_secs(5))
            .map_err(|e| format!("idle connection {i}: {e}"))?;
        let status = http::get(&mut s, path).map_err(|e| format!("idle connection {i}: {e}"))?;
        if status != 200 {
            return Err(format!("idle connection {i}: GET {path} answered {status}"));
        }
        conns.push(s);
    }
    Ok(conns)
}

/// Waits (bounded) until the processes hold at most `fds` descriptors:
/// the proxy has noticed the closed connections.
fn wait_fds_at_most(pids: &[u32], fds: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while fd_count(pids) > fds && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs both waves against `addr` and reads the RSS of `pids`.
pub(super) fn measure(
    addr: SocketAddr,
    path: &str,
    pids: &[u32],
    n: usize,
) -> Result<IdleResult, String> {
    let fds_before = fd_count(pids);
    let rss_before = status_kib(pids, "VmRSS:");
    let first = open_wave(addr, path, n)?;
    let rss_first = status_kib(pids, "VmRSS:");
    drop(first);
    wait_fds_at_most(pids, fds_before + 8, Duration::from_secs(10));
    let rss_closed = status_kib(pids, "VmRSS:");
    let second = open_wave(addr, path, n)?;
    let rss_second = status_kib(pids, "VmRSS:");
    drop(second);
    wait_fds_at_most(pids, fds_before + 8, Duration::from_secs(10));
    Ok(IdleResult {
        conns: n,
        kib_per_conn: (rss_first as f64 - rss_before as f64) / n as f64,
        second_wave_growth_kib: rss_second as i64 - rss_closed as i64,
        second_over_first_kib: rss_second as i64 - rss_first as i64,
    })
}
