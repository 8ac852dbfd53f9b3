//! Child processes of a bench run and what /proc says about them.
//!
//! Every child is registered in a [`Children`] guard, which stops them all
//! when it drops, on success, error or panic alike. Each child also gets
//! `PR_SET_PDEATHSIG`, so the kernel signals it if xtask itself is killed.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A started child with the files its output goes to.
pub(super) struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
    /// Signal that stops it cleanly (SIGTERM for nginx, whose master then
    /// stops its workers; SIGKILL for the rest).
    stop_signal: i32,
}

impl Proc {
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `within` for it to exit; whether it did.
    pub(super) fn wait_exit(&mut self, within: Duration) -> bool {
        wait_exit(&mut self.child, within)
    }

    /// The last lines of its log, for error messages.
    pub(super) fn log_tail(&self) -> String {
        log_tail(&self.log, 15)
    }
}

/// Owns every child of the run; stops them all on drop.
#[derive(Default)]
pub(super) struct Children {
    procs: Vec<Proc>,
}

impl Children {
    /// Starts `cmd` with stdout and stderr appended to `log`, registered
    /// under `name`. Returns its index.
    #[allow(unsafe_code)] // libc calls for process control, each with its SAFETY note
    pub(super) fn spawn(
        &mut self,
        name: &str,
        mut cmd: Command,
        log: &Path,
        stdout_piped: bool,
        stop_signal: i32,
    ) -> Result<usize, String> {
        let out = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        cmd.stdin(Stdio::null()).stderr(err);
        if stdout_piped {
            cmd.stdout(Stdio::piped());
        } else {
            cmd.stdout(out);
        }
        let death_signal = if stop_signal == libc::SIGKILL {
            libc::SIGKILL
        } else {
            libc::SIGTERM
        };
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, death_signal);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("starting {name} ({cmd:?}): {e}"))?;
        self.procs.push(Proc {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
            stop_signal,
        });
        Ok(self.procs.len() - 1)
    }

    pub(super) fn get(&self, index: usize) -> &Proc {
        &self.procs[index]
    }

    pub(super) fn get_mut(&mut self, index: usize) -> &mut Proc {
        &mut self.procs[index]
    }

    /// Fails naming the first child that already exited.
    pub(super) fn check_alive(&mut self) -> Result<(), String> {
        for p in &mut self.procs {
            if let Ok(Some(status)) = p.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}); its log ends with:\n{}",
                    p.name,
                    p.log_tail()
                ));
            }
        }
        Ok(())
    }

    /// Stops every child, newest first, and waits for each (bounded).
    #[allow(unsafe_code)] // libc calls for process control, each with its SAFETY note
    pub(super) fn stop_all(&mut self) {
        while let Some(mut p) = self.procs.pop() {
            let workers = children_of(p.pid());
            // SAFETY: signalling our own child by pid.
            unsafe { libc::kill(p.pid() as i32, p.stop_signal) };
            if !wait_exit(&mut p.child, Duration::from_secs(5)) {
                let _ = p.child.kill();
                let _ = p.child.wait();
            }
            for w in workers {
                if Path::new(&format!("/proc/{w}")).exists() {
                    // SAFETY: a worker of our child, left behind.
                    unsafe { libc::kill(w as i32, libc::SIGKILL) };
                }
            }
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// The last `lines` lines of a file.
pub(super) fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let tail = all[all.len().saturating_sub(lines)..].join("\n");
    if tail.is_empty() {
        format!("    ({} is empty)", path.display())
    } else {
        tail.lines().map(|l| format!("    {l}\n")).collect()
    }
}

/// Pids whose parent is `pid` (nginx's workers).
pub(super) fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| stat_fields(*p).is_some_and(|f| f.get(1) == Some(&pid.to_string())))
        .collect()
}

/// Fields of /proc/PID/stat after the command name: index 0 is the state
/// (field 3), 1 the parent pid, 11 utime, 12 stime.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// User plus system CPU time of the processes, in microseconds.
#[allow(unsafe_code)] // libc calls for process control, each with its SAFETY note
pub(super) fn cpu_us(pids: &[u32]) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    pids.iter()
        .filter_map(|p| {
            let f = stat_fields(*p)?;
            let utime: u64 = f.get(11)?.parse().ok()?;
            let stime: u64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) * 1_000_000 / ticks)
        })
        .sum()
}

/// A `/proc/PID/status` value in KiB (`VmHWM`, `VmRSS`), summed.
pub(super) fn status_kib(pids: &[u32], key: &str) -> u64 {
    pids.iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
            let line = text.lines().find(|l| l.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}

/// Open file descriptors of the processes.
pub(super) fn fd_count(pids: &[u32]) -> usize {
    pids.iter()
        .filter_map(|p| std::fs::read_dir(format!("/proc/{p}/fd")).ok())
        .map(|d| d.count())
        .sum()
}

/// Raises the soft open-files limit to the hard limit; returns the soft
/// limit in force afterwards.
#[allow(unsafe_code)] // libc calls for process control, each with its SAFETY note
pub(super) fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid rlimit to fill and then read.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
    }
    lim.rlim_cur
}

/// CPU sets for the proxy and for the load generator plus upstream.
pub(super) struct Pinning {
    pub proxy: Option<String>,
    pub load: Option<String>,
    pub note: String,
}

impl Pinning {
    /// Proxies on CPUs 0..workers, wrk and the upstream on the rest, when
    /// taskset exists and there is a CPU left over.
    pub(super) fn plan(workers: usize) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let taskset = Command::new("taskset")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !taskset {
            return Self::none("taskset not found: nothing pinned".into());
        }
        if cpus <= workers {
            return Self::none(format!(
                "{cpus} CPUs for {workers} worker(s): nothing pinned, load and proxy share CPUs"
            ));
        }
        let proxy = range(0, workers - 1);
        let load = range(workers, cpus - 1);
        let note = format!("proxy on CPU {proxy}, wrk and upstream on CPU {load} ({cpus} CPUs)");
        Self {
            proxy: Some(proxy),
            load: Some(load),
            note,
        }
    }

    fn none(note: String) -> Self {
        Self {
            proxy: None,
            load: None,
            note,
        }
    }
}

fn range(a: usize, b: usize) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

/// `program args...`, under `taskset -c CPUS` when given.
pub(super) fn pinned(cpus: &Option<String>, program: &Path) -> Command {
    match cpus {
        Some(set) => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(set).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// `cmd` run under `wrapper` (a profiler): the same program, arguments and
/// environment after the wrapper's own arguments.
pub(super) fn wrapped(cmd: Command, wrapper: &[String]) -> Command {
    let mut out = Command::new(&wrapper[0]);
    out.args(&wrapper[1..])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => out.env(key, v),
            None => out.env_remove(key),
        };
    }
    out
}
