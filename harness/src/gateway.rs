//! Starts the real `gateway` binary as a child process on a config rendered
//! from a template, waits until it is ready, and tears it down on drop.
//!
//! Templates may use `${upstream.NAME}` (set with [`Template::upstream`]),
//! `${port.NAME}` (a free loopback port, chosen per launch) and `${dir}` (the
//! per-run temp directory). `pid_file` and `upgrade_sock` default to files in
//! that directory so parallel runs never share them.

use crate::metrics;
use crate::wait;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// How long a gateway gets to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A config template and the values substituted into it.
#[derive(Debug, Clone)]
pub struct Template {
    text: String,
    vars: BTreeMap<String, String>,
}

impl Template {
    /// A template from text.
    pub fn new(text: &str) -> Self {
        Template {
            text: text.to_string(),
            vars: BTreeMap::new(),
        }
    }

    /// A template read from a file.
    pub fn from_file(path: &Path) -> std::io::Result<Self> {
        Ok(Self::new(&std::fs::read_to_string(path)?))
    }

    /// Sets `${upstream.NAME}`.
    pub fn upstream(self, name: &str, addr: SocketAddr) -> Self {
        self.var(&format!("upstream.{name}"), &addr.to_string())
    }

    /// Sets `${KEY}`.
    pub fn var(mut self, key: &str, value: &str) -> Self {
        self.vars.insert(key.to_string(), value.to_string());
        self
    }

    /// The same variables over another text (for a reloaded config).
    pub fn with_text(&self, text: &str) -> Self {
        Template {
            text: text.to_string(),
            vars: self.vars.clone(),
        }
    }

    /// `${port.NAME}` names used by the text.
    fn port_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut rest = self.text.as_str();
        while let Some(i) = rest.find("${port.") {
            let after = &rest[i + 7..];
            if let Some(end) = after.find('}') {
                let name = after[..end].to_string();
                if !names.contains(&name) {
                    names.push(name);
                }
                rest = &after[end..];
            } else {
                break;
            }
        }
        names
    }

    /// Substitutes every known variable; a `${a.b}` placeholder left over is
    /// an error. `${NAME}` without a dot is left for the gateway's own
    /// environment substitution.
    pub fn render(&self, extra: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = self.text.clone();
        for (k, v) in self.vars.iter().chain(extra) {
            out = out.replace(&format!("${{{k}}}"), v);
        }
        if let Some(i) = out.find("${") {
            let end = out[i..].find('}').map_or(out.len(), |e| i + e + 1);
            let placeholder = &out[i..end];
            if placeholder.contains('.') || placeholder == "${dir}" {
                return Err(format!("template placeholder {placeholder} has no value"));
            }
        }
        Ok(out)
    }
}

/// Ports this process has handed out. Pingora binds its listeners with
/// `SO_REUSEPORT`, so two gateways given the same port would both start and
/// share each other's connections: a port released here could be handed out
/// again by the kernel to a test running in parallel before its gateway
/// binds it. Never handing a port out twice per process rules that out.
static HANDED_OUT: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<u16>>> =
    std::sync::LazyLock::new(Default::default);

/// Picks `n` distinct free loopback ports, none handed out before by this
/// process. All are bound at once and then released for the gateway to bind.
pub fn free_ports(n: usize) -> Vec<u16> {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let mut held = Vec::new();
    let mut ports = Vec::with_capacity(n);
    while ports.len() < n {
        let listener =
            TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral loopback port");
        let port = listener
            .local_addr()
            .expect("a bound socket has an address")
            .port();
        if handed_out.insert(port) {
            ports.push(port);
        }
        // Kept bound until all are chosen, so the kernel offers other ports.
        held.push(listener);
    }
    ports
}

/// A running gateway child process.
pub struct GatewayProcess {
    child: Option<Child>,
    binary: PathBuf,
    dir: Arc<tempfile::TempDir>,
    config_path: PathBuf,
    log_path: PathBuf,
    vars: BTreeMap<String, String>,
    template: Template,
    client: reqwest::Client,
}

impl GatewayProcess {
    /// Renders `template`, starts `binary -c CONFIG`, and waits for `/ready`.
    /// The template must listen on `${port.proxy}` and serve admin on
    /// `${port.admin}`.
    pub async fn start(binary: &Path, template: &Template) -> Result<Self, String> {
        let dir = Arc::new(tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?);
        let mut vars = BTreeMap::new();
        vars.insert("dir".to_string(), dir.path().display().to_string());
        let keys: Vec<String> = template
            .port_names()
            .iter()
            .map(|n| format!("port.{n}"))
            .collect();
        let missing = keys
            .iter()
            .filter(|k| !template.vars.contains_key(*k))
            .count();
        let mut fresh = free_ports(missing).into_iter();
        for key in keys {
            let port = match template.vars.get(&key) {
                Some(preset) => preset.clone(),
                None => fresh.next().map(|p| p.to_string()).unwrap_or_default(),
            };
            vars.insert(key, port);
        }
        let config_path = dir.path().join("gateway.yaml");
        let mut gw = GatewayProcess {
            child: None,
            binary: binary.to_path_buf(),
            log_path: dir.path().join("gateway.log"),
            dir,
            config_path,
            vars,
            template: template.clone(),
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .map_err(|e| e.to_string())?,
        };
        gw.write_config(template)?;
        gw.spawn(&[])?;
        gw.wait_ready().await?;
        Ok(gw)
    }

    /// Starts a second process with `-u` on the same config and directory:
    /// it takes over the listeners once this one gets SIGQUIT.
    pub fn spawn_upgrade(&self) -> Result<GatewayProcess, String> {
        let mut next = GatewayProcess {
            child: None,
            binary: self.binary.clone(),
            dir: self.dir.clone(),
            config_path: self.config_path.clone(),
            log_path: self
                .dir
                .path()
                .join(format!("gateway-upgrade-{}.log", self.pid())),
            vars: self.vars.clone(),
            template: self.template.clone(),
            client: self.client.clone(),
        };
        next.spawn(&["-u"])?;
        Ok(next)
    }

    fn write_config(&self, template: &Template) -> Result<(), String> {
        let mut text = template.render(&self.vars)?;
        let dir = self.dir.path().display();
        if !text.contains("upgrade_sock:") {
            text = format!("upgrade_sock: {dir}/upgrade.sock\n{text}");
        }
        if !text.contains("pid_file:") {
            text = format!("pid_file: {dir}/gateway.pid\n{text}");
        }
        // Written beside it and renamed over it, so a gateway watching the
        // file (`gateway.config_watch`) never reads a half-written config.
        let tmp = self.config_path.with_extension("yaml.tmp");
        std::fs::write(&tmp, text).map_err(|e| format!("writing config: {e}"))?;
        std::fs::rename(&tmp, &self.config_path).map_err(|e| format!("replacing config: {e}"))
    }

    /// The config file the gateway was started with (`-c`).
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    fn spawn(&mut self, extra_args: &[&str]) -> Result<(), String> {
        let log = File::create(&self.log_path).map_err(|e| format!("log file: {e}"))?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config_path)
            .args(extra_args)
            .env(
                "RUST_LOG",
                std::env::var("GATEWAY_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until `/ready` answers 200 (or fails with the log's tail).
    pub async fn wait_ready(&mut self) -> Result<(), String> {
        let url = self.admin_url("/ready");
        let deadline = std::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(r) = self.client.get(&url).send().await {
                // The admin service can answer before the proxy service has
                // bound its listener: ready means both.
                if r.status() == 200 && self.proxy_accepts().await {
                    return Ok(());
                }
            }
            if let Some(status) = self.try_exit_status() {
                return Err(format!(
                    "gateway exited with {status} before ready:\n{}",
                    self.log_tail(40)
                ));
            }
            if std::time::Instant::now() >= deadline {
                return Err(format!(
                    "gateway not ready within {READY_TIMEOUT:?}:\n{}",
                    self.log_tail(40)
                ));
            }
            tokio::time::sleep(wait::POLL_INTERVAL).await;
        }
    }

    async fn proxy_accepts(&self) -> bool {
        match self.var("port.proxy") {
            Some(_) => tokio::net::TcpStream::connect(self.proxy_addr())
                .await
                .is_ok(),
            None => true,
        }
    }

    /// A substituted value, e.g. `port.proxy`.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// The proxy's address (`${port.proxy}`).
    pub fn proxy_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port("proxy")))
    }

    /// The admin address (`${port.admin}`).
    pub fn admin_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port("admin")))
    }

    fn port(&self, name: &str) -> u16 {
        self.var(&format!("port.{name}"))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("template has no ${{port.{name}}}"))
    }

    /// `http://proxy{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy_addr())
    }

    /// `http://admin{path}`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr())
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        match self.client.get(self.admin_url("/metrics")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The `/metrics` text, or why it could not be read.
    pub async fn try_metrics(&self) -> Result<String, String> {
        let url = self.admin_url("/metrics");
        let resp = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", resp.status()));
        }
        resp.text().await.map_err(|e| format!("GET {url}: {e}"))
    }

    /// The sum of series `name{labels}` (0 when absent).
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metrics::value(&self.metrics().await, name, labels).unwrap_or(0.0)
    }

    /// Waits until `name{labels}` equals `want`.
    pub async fn wait_metric(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        want: f64,
        within: Duration,
    ) -> Result<(), String> {
        let what = format!("{name}{labels:?} == {want}");
        let result = wait::until(&what, within, || async {
            (metrics::value(&self.metrics().await, name, labels) == Some(want)).then_some(())
        })
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(format!("{e}\nseries now:\n{}", self.series(name).await)),
        }
    }

    /// Rewrites the config file from `text` (same variables) without
    /// reloading, atomically (written beside it, then renamed over it).
    pub fn rewrite_config(&self, text: &str) -> Result<(), String> {
        self.write_config(&self.template.with_text(text))
    }

    /// `POST /config/reload`: status and JSON body.
    pub async fn reload(&self) -> Result<(u16, serde_json::Value), String> {
        let r = self
            .client
            .post(self.admin_url("/config/reload"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let body = r.json().await.map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends a signal to the child.
    pub fn signal(&self, signal: Signal) -> Result<(), String> {
        kill(Pid::from_raw(self.pid() as i32), signal).map_err(|e| format!("kill {signal}: {e}"))
    }

    /// The child's exit status if it has exited, without waiting.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits for the child to exit.
    pub async fn wait_exit(&mut self, within: Duration) -> Result<ExitStatus, String> {
        let what = format!("gateway pid {} to exit", self.pid());
        let mut status = None;
        wait::until(&what, within, || {
            status = self.try_exit_status();
            std::future::ready(status.map(|_| ()))
        })
        .await?;
        status.ok_or_else(|| "no exit status".to_string())
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last `n` log lines.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The series of `name` currently exported, one per line.
    pub async fn series(&self, name: &str) -> String {
        let text = self.metrics().await;
        text.lines()
            .filter(|l| l.starts_with(name))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

#[cfg(test)]
mod port_tests {
    use super::free_ports;
    use std::collections::HashSet;

    #[test]
    fn no_port_is_handed_out_twice_by_one_process() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..50).flat_map(|_| free_ports(3)).collect::<Vec<_>>()))
            .collect();
        let all: Vec<u16> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let distinct: HashSet<u16> = all.iter().copied().collect();
        assert_eq!(all.len(), 600);
        assert_eq!(distinct.len(), all.len());
    }
}
