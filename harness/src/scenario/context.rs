//! The state a scenario's steps act on while it runs: the gateway process,
//! the mock upstreams, background load, and the count of requests sent
//! (what the gateway's metrics must have settled on).

use super::expect::{problems, Expect};
use super::ledger::RequestLedger;
use super::mock::{BehaviourSpec, Upstreams};
use super::selector::parse_selector;
use crate::binary::{gateway_binary, workspace_root};
use crate::certs::TestCerts;
use crate::gateway::{GatewayProcess, Template};
use crate::traffic::{Background, Summary};
use crate::upstream::{Flapper, MockUpstream};
use crate::{metrics, wait};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// How long the gateway gets to count the requests sent to it before a
/// snapshot or metric assertion reads its metrics.
pub(super) const SETTLE_WITHIN: Duration = Duration::from_secs(10);

/// The `${port.NAME}` of the admin API (requests to it are not proxied).
const ADMIN_LISTENER: &str = "admin";

/// The state a scenario's steps act on.
pub struct RunContext {
    /// Scenario name (snapshot names start with it).
    pub(super) name: String,
    /// Test certificates (`${certs.*}`), kept for the whole run.
    pub(super) certs: TestCerts,
    /// The run's temp dir: certificates and Unix sockets of mocks.
    _certs_dir: tempfile::TempDir,
    /// The seed in use.
    pub(super) seed: u64,
    /// Mock upstreams by name.
    pub(super) mocks: BTreeMap<String, Arc<MockUpstream>>,
    /// The gateway process serving now.
    pub(super) gateway: GatewayProcess,
    /// The body each mock sends now, where it has one fixed body.
    bodies: BTreeMap<String, Option<Vec<u8>>>,
    /// Background load by name.
    pub(super) backgrounds: BTreeMap<String, Background>,
    /// Running flap schedules by mock name.
    pub(super) flappers: BTreeMap<String, Flapper>,
    /// Requests sent by traffic steps and joined background load.
    pub(super) requests: usize,
    /// Requests the current gateway process must have counted.
    ledger: RequestLedger,
    /// Background load that was running when the gateway was replaced.
    straddling: BTreeSet<String>,
    /// Snapshots taken: (name, normalised text).
    pub(super) snapshots: Vec<(String, String)>,
    /// Per-run values for traffic headers (`${jwt.valid}`, ...).
    run_vars: Vec<(&'static str, String)>,
}

impl RunContext {
    /// Generates the run's certificates, starts the mocks and then the
    /// gateway from the template `config` (relative to the workspace root),
    /// with `${upstream.NAME}` and `${certs.*}` filled in.
    pub(super) async fn start(
        name: &str,
        seed: u64,
        upstreams: &Upstreams,
        config: &str,
    ) -> Result<Self, String> {
        let mut mocks = BTreeMap::new();
        let mut bodies = BTreeMap::new();
        let text = std::fs::read_to_string(workspace_root().join(config))
            .map_err(|e| format!("{config}: {e}"))?;
        let certs_dir =
            tempfile::tempdir().map_err(|e| format!("temp dir for certificates: {e}"))?;
        let certs = TestCerts::generate(certs_dir.path())
            .map_err(|e| format!("generating certificates: {e}"))?;
        let mut template = Template::new(&text);
        for (key, value) in certs.vars() {
            template = template.var(key, &value);
        }
        for (mock_name, spec) in upstreams {
            let behaviour = spec.behaviour.build(mock_name, &certs);
            let mock = if spec.unix {
                let path = certs_dir.path().join(format!("{mock_name}.sock"));
                MockUpstream::start_unix(mock_name, behaviour, &path).await
            } else {
                MockUpstream::start_shared(mock_name, behaviour).await
            }
            .map_err(|e| format!("starting upstream {mock_name}: {e}"))?;
            if spec.down {
                mock.down().await;
            }
            template = template.var(&format!("upstream.{mock_name}"), &mock.endpoint_address());
            mocks.insert(mock_name.clone(), Arc::new(mock));
            bodies.insert(mock_name.clone(), spec.behaviour.fixed_body(mock_name));
        }
        let binary = gateway_binary()?;
        let gateway = start_gateway(&binary, &template).await?;
        let run_vars = certs.jwt().token_vars();
        Ok(RunContext {
            name: name.to_string(),
            certs,
            _certs_dir: certs_dir,
            seed,
            mocks,
            bodies,
            gateway,
            backgrounds: BTreeMap::new(),
            flappers: BTreeMap::new(),
            requests: 0,
            ledger: RequestLedger::default(),
            straddling: BTreeSet::new(),
            snapshots: Vec::new(),
            run_vars,
        })
    }

    /// Switches mock `name` to the behaviour `spec` describes.
    pub(super) fn set_behaviour(&mut self, name: &str, spec: &BehaviourSpec) -> Result<(), String> {
        let mock = self
            .mocks
            .get(name)
            .ok_or_else(|| format!("unknown upstream `{name}`"))?;
        mock.set_behaviour_shared(spec.build(name, &self.certs));
        self.bodies.insert(name.to_string(), spec.fixed_body(name));
        Ok(())
    }

    /// Counts what a traffic step sent to `listener`. Requests to the
    /// `admin` listener are not proxied, so the gateway does not count them
    /// in `gateway_requests_total` and the ledger leaves them out.
    pub(super) fn record_sent(&mut self, summary: &Summary, listener: &str) {
        self.requests += summary.sent();
        if listener != ADMIN_LISTENER {
            self.ledger.add(summary.reached_server());
        }
    }

    /// Counts one WebSocket, a single request to the gateway once it ends.
    pub(super) fn record_websocket(&mut self) {
        self.requests += 1;
        self.ledger.add(1);
    }

    /// Counts gRPC calls: `reached` certainly reached the gateway (it
    /// counts each as one request); `unsure` failed in transport.
    pub(super) fn record_calls(&mut self, reached: usize, unsure: usize) {
        self.requests += reached + unsure;
        self.ledger.add(reached);
        self.ledger.add_uncertain(unsure);
    }

    /// Counts what background load `name` sent, once joined.
    pub(super) fn record_joined(&mut self, name: &str, summary: &Summary) {
        self.requests += summary.sent();
        if self.straddling.remove(name) {
            self.ledger.add_uncertain(summary.reached_server());
        } else {
            self.ledger.add(summary.reached_server());
        }
    }

    /// The address of the `${port.NAME}` listener (plaintext).
    pub(super) fn listener_addr(&self, listener: &str) -> Result<SocketAddr, String> {
        let port = self
            .gateway
            .var(&format!("port.{listener}"))
            .ok_or_else(|| format!("the config has no ${{port.{listener}}} listener"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("${{port.{listener}}} is not a port: {port}"))?;
        Ok(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// Makes `next` the gateway under test (after an upgrade) and returns
    /// the previous process. The successor counts requests from zero.
    pub(super) fn replace_gateway(&mut self, next: GatewayProcess) -> GatewayProcess {
        self.ledger.restart();
        self.straddling.extend(self.backgrounds.keys().cloned());
        std::mem::replace(&mut self.gateway, next)
    }

    /// The last lines of the gateway's log.
    pub(super) fn log_tail(&self) -> String {
        self.gateway.log_tail(30)
    }

    /// Each mock's hit count now.
    pub(super) fn hits(&self) -> BTreeMap<String, u64> {
        self.mocks
            .iter()
            .map(|(n, m)| (n.clone(), m.hits()))
            .collect()
    }

    /// `value` with the per-run variables (`${jwt.valid}`, ...) replaced; a
    /// `${jwt.*}` left over is an error.
    pub(super) fn expand_run_vars(&self, value: &str) -> Result<String, String> {
        expand_run_vars(value, &self.run_vars)
    }

    /// Checks `expect` against a batch of responses and the mock hits since
    /// `before`; the text describes the batch.
    pub(super) fn check(
        &self,
        expect: &Expect,
        summary: &Summary,
        before: &BTreeMap<String, u64>,
    ) -> Result<String, String> {
        let after = self.hits();
        let deltas: BTreeMap<String, u64> = after
            .iter()
            .map(|(n, h)| (n.clone(), h - before.get(n).copied().unwrap_or(0)))
            .collect();
        let found = problems(expect, summary, &deltas, &self.bodies);
        if found.is_empty() {
            Ok(summary.describe())
        } else {
            Err(format!("{}\n({})", found.join("\n"), summary.describe()))
        }
    }

    /// The metrics once the gateway has counted every request the driver
    /// sent to this process (the sum of `gateway_requests_total`; see
    /// [`RequestLedger`]), waiting at most [`SETTLE_WITHIN`].
    pub(super) async fn settled_metrics(&self) -> Result<String, String> {
        let load_running = !self.backgrounds.is_empty();
        let last = AtomicU64::new(0);
        let what = format!(
            "the gateway to count the {} requests sent to it (sum of gateway_requests_total)",
            self.ledger
        );
        let result = wait::until(&what, SETTLE_WITHIN, || async {
            match self.gateway.try_metrics().await {
                Ok(text) => {
                    let counted =
                        metrics::value(&text, "gateway_requests_total", &[]).unwrap_or(0.0) as u64;
                    last.store(counted, Relaxed);
                    self.ledger
                        .settled(counted, load_running)
                        .then_some(Ok(text))
                }
                Err(e) => Some(Err(format!("reading the gateway's metrics: {e}"))),
            }
        })
        .await;
        match result {
            Ok(read) => read,
            Err(e) => Err(format!("{e}; it counted {}", last.load(Relaxed))),
        }
    }

    /// The value of a metric selector now (matching series summed).
    pub(super) async fn metric(&self, selector: &str) -> Result<f64, String> {
        self.metric_in(&self.gateway.metrics().await, selector)
    }

    /// The value of a metric selector in `/metrics` text.
    pub(super) fn metric_in(&self, text: &str, selector: &str) -> Result<f64, String> {
        let (name, labels) = parse_selector(selector)?;
        let labels: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        metrics::value(text, &name, &labels)
            .ok_or_else(|| format!("no series matches `{selector}`"))
    }

    /// Ends the run: joins background load never joined (printing what it
    /// saw) and flap schedules, then fails if the gateway log has a panic.
    pub(super) async fn finish(&mut self) -> Result<(), String> {
        for (name, bg) in std::mem::take(&mut self.backgrounds) {
            let summary = bg.join().await?;
            println!(
                "  background `{name}` was never joined: {}",
                summary.describe()
            );
        }
        for (_, flapper) in std::mem::take(&mut self.flappers) {
            flapper.join().await;
        }
        let log = self.gateway.log();
        if let Some(line) = log.lines().find(|l| l.contains("panicked")) {
            return Err(format!("the gateway log has a panic: {line}"));
        }
        Ok(())
    }
}

/// `value` with the per-run variables `vars` (`${jwt.valid}`, ...)
/// replaced; a `${jwt.*}` left over is an error.
fn expand_run_vars(value: &str, vars: &[(&'static str, String)]) -> Result<String, String> {
    let mut out = value.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    match out.find("${jwt.") {
        Some(i) => {
            let end = out[i..].find('}').map_or(out.len(), |e| i + e + 1);
            Err(format!(
                "unknown per-run variable {}; expected ${{jwt.valid}}, ${{jwt.expired}} or ${{jwt.bad_signature}}",
                &out[i..end]
            ))
        }
        None => Ok(out),
    }
}

/// Starts the gateway, retrying on a fresh set of ports when a pre-picked
/// port was taken in between.
async fn start_gateway(binary: &Path, template: &Template) -> Result<GatewayProcess, String> {
    let mut last = String::new();
    for _ in 0..3 {
        match GatewayProcess::start(binary, template).await {
            Ok(gw) => return Ok(gw),
            Err(e) if e.contains("Address already in use") => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::expand_run_vars;

    #[test]
    fn run_variables_expand_and_unknown_ones_are_errors() {
        let vars = vec![("jwt.valid", "t0k3n".to_string())];
        assert_eq!(
            expand_run_vars("Bearer ${jwt.valid}", &vars).unwrap(),
            "Bearer t0k3n"
        );
        assert_eq!(expand_run_vars("plain", &vars).unwrap(), "plain");
        let err = expand_run_vars("Bearer ${jwt.stale}", &vars).unwrap_err();
        assert!(err.contains("${jwt.stale}"), "{err}");
    }
}
