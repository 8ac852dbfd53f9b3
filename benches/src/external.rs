//! nginx and haproxy as child processes for the in-process comparison,
//! rendered from the same templates `cargo xtask bench` uses, logs off.
//! Each is stopped when its handle drops; when the bench process dies
//! first, the kernel sends the child SIGTERM (`PR_SET_PDEATHSIG`).

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NGINX_TEMPLATE: &str = include_str!("../../xtask/src/bench/templates/nginx.conf");
const HAPROXY_TEMPLATE: &str = include_str!("../../xtask/src/bench/templates/haproxy.cfg");

/// Replaces every `{{key}}` of `template`.
pub fn render(template: &str, values: &[(&str, String)]) -> String {
    values
        .iter()
        .fold(template.to_string(), |text, (key, value)| {
            text.replace(&format!("{{{{{key}}}}}"), value)
        })
}

/// Whether `program` can be run.
pub fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// A proxy process listening on `addr`; stopped on drop.
pub struct ExternalProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

impl ExternalProxy {
    /// nginx with one worker in front of `upstream`.
    pub fn nginx(upstream: SocketAddr) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let addr = free_port()?;
        let conf = render(
            NGINX_TEMPLATE,
            &[
                ("workers", "1".into()),
                ("dir", dir.path().display().to_string()),
                ("listen", addr.to_string()),
                ("listen_options", String::new()),
                ("server_extra", String::new()),
                ("upstream", upstream.to_string()),
                ("access_log", "off".into()),
            ],
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf)?;
        let mut cmd = Command::new("nginx");
        cmd.arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("nginx-error.log"))
            .arg("-c")
            .arg(&path);
        Self::spawn(cmd, addr, dir)
    }

    /// haproxy with one thread in front of `upstream`.
    pub fn haproxy(upstream: SocketAddr) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let addr = free_port()?;
        let conf = render(
            HAPROXY_TEMPLATE,
            &[
                ("workers", "1".into()),
                ("listen", addr.to_string()),
                ("upstream", upstream.to_string()),
                ("global_log", String::new()),
                ("defaults_log", String::new()),
            ],
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, conf)?;
        let mut cmd = Command::new("haproxy");
        cmd.arg("-db").arg("-f").arg(&path);
        Self::spawn(cmd, addr, dir)
    }

    #[allow(unsafe_code)] // libc calls for process control, each with its SAFETY note
    fn spawn(mut cmd: Command, addr: SocketAddr, dir: tempfile::TempDir) -> std::io::Result<Self> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        Ok(Self {
            addr,
            child,
            _dir: dir,
        })
    }

    /// The directory holding its config and logs.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }
}

impl Drop for ExternalProxy {
    #[allow(unsafe_code)] // libc calls for process control, each with its SAFETY note
    fn drop(&mut self) {
        // SIGTERM: nginx's master stops its workers before exiting.
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
