//! Executes a scenario step by step, printing each step's outcome. The
//! [`Runner`] holds what steps act on; each step kind lives in `steps/`.

use super::expect::problems;
use super::ledger::RequestLedger;
use super::load::load;
use super::model::*;
use super::selector::parse_selector;
use crate::binary::{gateway_binary, workspace_root};
use crate::certs::TestCerts;
use crate::gateway::{GatewayProcess, Template};
use crate::traffic::{Background, ClientTls, Summary, TrafficSpec};
use crate::upstream::{
    Behaviour, BodyMismatch, Cacheable, ChunkedTruncated, Echo, Fixed, Flapper, H2cOnly,
    MockUpstream, Mtls, Reset, ResetBody, Slow, StallBody, WebSocketEcho,
};
use crate::{metrics, wait};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the gateway gets to count the requests sent to it before a
/// snapshot or metric assertion reads its metrics.
pub const SETTLE_WITHIN: Duration = Duration::from_secs(10);

/// The `${port.NAME}` of the admin API (requests to it are not proxied).
const ADMIN_LISTENER: &str = "admin";

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// Scenario name.
    pub name: String,
    /// The seed used.
    pub seed: u64,
    /// Steps executed (all of them when it passed).
    pub steps: usize,
    /// Requests sent by traffic steps.
    pub requests: usize,
    /// Snapshots taken: (name, normalised text).
    pub snapshots: Vec<(String, String)>,
    /// Wall time.
    pub seconds: f64,
}

/// Runs the scenario file at `path`. On failure the error explains which
/// step failed and why, with the seed, a replay command and the gateway
/// log's tail.
pub async fn run(path: &Path) -> Result<Report, String> {
    let started = Instant::now();
    let scenario = load(path).map_err(|e| e.to_string())?;
    let seed = std::env::var("SCENARIO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(scenario.seed);
    println!(
        "scenario {} (seed {seed}): {}",
        scenario.name,
        scenario.description.trim()
    );
    let mut runner = Runner::start(&scenario, seed).await?;
    let total = scenario.steps.len();
    for (i, step) in scenario.steps.iter().enumerate() {
        let step_started = Instant::now();
        let label = step.kind().describe();
        match step.kind().run(&mut runner).await {
            Ok(detail) => println!(
                "  [{}/{total}] {label}: ok{} ({:.1}s)",
                i + 1,
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(" - {detail}")
                },
                step_started.elapsed().as_secs_f64()
            ),
            Err(e) => {
                println!(
                    "  [{}/{total}] {label}: FAILED\n      {}",
                    i + 1,
                    e.replace('\n', "\n      ")
                );
                let log = runner.log_tail();
                println!("FAIL {} at step {} (seed {seed}); replay: SCENARIO_SEED={seed} cargo xtask scenario {}", scenario.name, i + 1, scenario.name);
                return Err(format!(
                    "scenario {} failed at step {} ({label}): {e}\nseed {seed}; replay: SCENARIO_SEED={seed} cargo xtask scenario {}\ngateway log (tail):\n{log}",
                    scenario.name,
                    i + 1,
                    scenario.name
                ));
            }
        }
    }
    runner.finish().await?;
    let report = Report {
        name: scenario.name.clone(),
        seed,
        steps: total,
        requests: runner.requests,
        snapshots: runner.snapshots.clone(),
        seconds: started.elapsed().as_secs_f64(),
    };
    println!(
        "PASS {} ({} steps, {} requests, {:.1}s)\nscenario-result name={} steps={} requests={} result=PASS seconds={:.1}",
        report.name, report.steps, report.requests, report.seconds, report.name, report.steps, report.requests, report.seconds
    );
    Ok(report)
}

/// The body a mock of this spec sends, for kinds with one fixed body.
pub(super) fn fixed_body(name: &str, spec: &UpstreamSpec) -> Option<Vec<u8>> {
    match spec.behaviour {
        BehaviourKind::Fixed
        | BehaviourKind::Slow
        | BehaviourKind::BodyMismatch
        | BehaviourKind::ResetBody
        | BehaviourKind::ChunkedTruncated
        | BehaviourKind::H2c
        | BehaviourKind::Mtls => Some(
            spec.body
                .clone()
                .unwrap_or_else(|| name.to_string())
                .into_bytes(),
        ),
        BehaviourKind::Echo
        | BehaviourKind::StallBody
        | BehaviourKind::Reset
        | BehaviourKind::Cacheable
        | BehaviourKind::Websocket
        | BehaviourKind::Grpc => None,
    }
}

/// The mock behaviour a spec describes.
pub(super) fn build_behaviour(
    name: &str,
    spec: &UpstreamSpec,
    certs: &TestCerts,
) -> Result<Arc<dyn Behaviour>, String> {
    let headers = || -> Vec<(String, String)> {
        spec.headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let fixed = || {
        let f = Fixed {
            status: spec.status.unwrap_or(200),
            headers: headers(),
            body: spec.body.clone().unwrap_or_else(|| name.to_string()),
        };
        Arc::new(f) as Arc<dyn Behaviour>
    };
    Ok(match spec.behaviour {
        BehaviourKind::Fixed => fixed(),
        BehaviourKind::Echo => Arc::new(Echo),
        BehaviourKind::Slow => Arc::new(Slow {
            delay: spec.delay.ok_or("a slow upstream needs `delay`")?,
            then: fixed(),
        }),
        BehaviourKind::StallBody => Arc::new(StallBody {
            first: spec.body.clone().unwrap_or_else(|| name.to_string()),
            rest: spec.declared_length.unwrap_or(1024),
            stall: spec.delay.ok_or("a stall_body upstream needs `delay`")?,
        }),
        BehaviourKind::Reset => Arc::new(Reset),
        BehaviourKind::BodyMismatch => {
            let body = spec.body.clone().unwrap_or_else(|| name.to_string());
            Arc::new(BodyMismatch {
                declared: spec.declared_length.unwrap_or(body.len() + 100),
                body,
            })
        }
        BehaviourKind::ResetBody => {
            let body = spec.body.clone().unwrap_or_else(|| name.to_string());
            Arc::new(ResetBody {
                declared: spec.declared_length.unwrap_or(body.len() + 100),
                body,
                headers: headers(),
            })
        }
        BehaviourKind::ChunkedTruncated => Arc::new(ChunkedTruncated {
            body: spec.body.clone().unwrap_or_else(|| name.to_string()),
            chunks: spec.chunks.unwrap_or(1),
        }),
        BehaviourKind::H2c => Arc::new(H2cOnly { inner: fixed() }),
        BehaviourKind::Cacheable => {
            let mut c = Cacheable::new(spec.cache_control.as_deref().unwrap_or("max-age=60"));
            c.status = spec.status.unwrap_or(200);
            c.headers = headers();
            c.delay = spec.delay;
            Arc::new(if spec.hold { c.hold() } else { c })
        }
        BehaviourKind::Mtls => Arc::new(Mtls::new(certs, fixed())),
        BehaviourKind::Websocket => Arc::new(WebSocketEcho),
        BehaviourKind::Grpc => Arc::new(crate::upstream::GrpcEcho),
    })
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

/// The state a scenario's steps act on.
pub struct Runner {
    /// Scenario name (snapshot names start with it).
    pub(super) name: String,
    /// Test certificates (`${certs.*}`), kept for the whole run.
    pub(super) certs: TestCerts,
    _certs_dir: tempfile::TempDir,
    /// The seed in use.
    pub(super) seed: u64,
    /// Mock upstreams by name.
    pub(super) mocks: BTreeMap<String, Arc<MockUpstream>>,
    /// The gateway process serving now.
    pub(super) gateway: GatewayProcess,
    /// The body each mock sends now, where it has one fixed body.
    pub(super) bodies: BTreeMap<String, Option<Vec<u8>>>,
    /// Background load by name.
    pub(super) backgrounds: BTreeMap<String, Background>,
    /// Running flap schedules by mock name.
    pub(super) flappers: BTreeMap<String, Flapper>,
    /// Requests sent by traffic steps and joined background load.
    requests: usize,
    /// Requests the current gateway process must have counted.
    ledger: RequestLedger,
    /// Background load that was running when the gateway was replaced.
    straddling: BTreeSet<String>,
    /// Snapshots taken: (name, normalised text).
    pub(super) snapshots: Vec<(String, String)>,
    /// Per-run values for traffic headers (`${jwt.valid}`, ...).
    run_vars: Vec<(&'static str, String)>,
}

impl Runner {
    async fn start(scenario: &Scenario, seed: u64) -> Result<Self, String> {
        let mut mocks = BTreeMap::new();
        let mut bodies = BTreeMap::new();
        let root = workspace_root();
        let text = std::fs::read_to_string(root.join(&scenario.gateway.config))
            .map_err(|e| format!("{}: {e}", scenario.gateway.config))?;
        let certs_dir =
            tempfile::tempdir().map_err(|e| format!("temp dir for certificates: {e}"))?;
        let certs = TestCerts::generate(certs_dir.path())
            .map_err(|e| format!("generating certificates: {e}"))?;
        let mut template = Template::new(&text);
        for (key, value) in certs.vars() {
            template = template.var(key, &value);
        }
        for (name, spec) in &scenario.upstreams {
            let behaviour = build_behaviour(name, spec, &certs)?;
            let mock = if spec.unix {
                let path = certs_dir.path().join(format!("{name}.sock"));
                MockUpstream::start_unix(name, behaviour, &path).await
            } else {
                MockUpstream::start_shared(name, behaviour).await
            }
            .map_err(|e| format!("starting upstream {name}: {e}"))?;
            if spec.down {
                mock.down().await;
            }
            template = template.var(&format!("upstream.{name}"), &mock.endpoint_address());
            mocks.insert(name.clone(), Arc::new(mock));
            bodies.insert(name.clone(), fixed_body(name, spec));
        }
        let binary = gateway_binary()?;
        let gateway = start_gateway(&binary, &template).await?;
        let run_vars = certs.jwt().token_vars();
        Ok(Runner {
            name: scenario.name.clone(),
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

    /// The address of the `${port.NAME}` listener (plaintext).
    pub(super) fn listener_addr(&self, listener: &str) -> Result<std::net::SocketAddr, String> {
        let port = self
            .gateway
            .var(&format!("port.{listener}"))
            .ok_or_else(|| format!("the config has no ${{port.{listener}}} listener"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("${{port.{listener}}} is not a port: {port}"))?;
        Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
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

    /// Makes `next` the gateway under test (after an upgrade) and returns
    /// the previous process. The successor counts requests from zero.
    pub(super) fn replace_gateway(&mut self, next: GatewayProcess) -> GatewayProcess {
        self.ledger.restart();
        self.straddling.extend(self.backgrounds.keys().cloned());
        std::mem::replace(&mut self.gateway, next)
    }

    fn log_tail(&self) -> String {
        self.gateway.log_tail(30)
    }

    /// Each mock's hit count now.
    pub(super) fn hits(&self) -> BTreeMap<String, u64> {
        self.mocks
            .iter()
            .map(|(n, m)| (n.clone(), m.hits()))
            .collect()
    }

    /// The client load a traffic step describes.
    pub(super) fn traffic_spec(
        &self,
        t: &TrafficStep,
        requests: usize,
    ) -> Result<TrafficSpec, String> {
        let port = self
            .gateway
            .var(&format!("port.{}", t.listener))
            .ok_or_else(|| format!("the config has no ${{port.{}}} listener", t.listener))?;
        let port_number: u16 = port
            .parse()
            .map_err(|_| format!("${{port.{}}} is not a port: {port}", t.listener))?;
        let own = |(cert, key): (&Path, &Path)| (cert.to_path_buf(), key.to_path_buf());
        // The test server certificate names `localhost`.
        let server_name = t
            .tls
            .as_ref()
            .and_then(|spec| spec.server_name.clone())
            .unwrap_or_else(|| "localhost".into());
        let tls = t.tls.as_ref().map(|spec| ClientTls {
            ca: self.certs.ca().to_path_buf(),
            identity: match spec.client_cert {
                ClientCertChoice::None => None,
                ClientCertChoice::Test => {
                    Some(own((self.certs.client_cert(), self.certs.client_key())))
                }
                ClientCertChoice::Other => Some(own(self.certs.other_client())),
            },
            resolve: Some((
                server_name.clone(),
                std::net::SocketAddr::from(([127, 0, 0, 1], port_number)),
            )),
        });
        let base = match tls {
            Some(_) if server_name.contains(':') => format!("https://[{server_name}]:{port}"),
            Some(_) => format!("https://{server_name}:{port}"),
            None => format!("http://127.0.0.1:{port}"),
        };
        Ok(TrafficSpec {
            base,
            tls,
            path: t.path.clone(),
            method: t
                .method
                .parse()
                .map_err(|_| format!("`{}` is not a method", t.method))?,
            headers: t
                .headers
                .iter()
                .map(|(k, v)| Ok((k.clone(), self.expand_run_vars(v)?)))
                .collect::<Result<_, String>>()?,
            body: t
                .body
                .clone()
                .or_else(|| t.body_size.map(|n| "x".repeat(n))),
            chunked: t.chunked,
            requests,
            concurrency: t.concurrency,
            http2: t.http2,
            keepalive: t.keepalive,
            timeout: t.timeout,
            rate: t.rate.map(|r| r.per_second),
        })
    }

    /// `value` with the per-run variables (`${jwt.valid}`, ...) replaced; a
    /// `${jwt.*}` left over is an error.
    fn expand_run_vars(&self, value: &str) -> Result<String, String> {
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

    async fn finish(&mut self) -> Result<(), String> {
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
