//! Executes a scenario step by step, printing each step's outcome.

use super::expect::problems;
use super::load::load;
use super::model::*;
use super::snapshot::normalise;
use crate::binary::{gateway_binary, workspace_root};
use crate::certs::TestCerts;
use crate::gateway::{GatewayProcess, Template};
use crate::traffic::{self, Background, ClientTls, Summary, TrafficSpec};
use crate::upstream::{
    Behaviour, BodyMismatch, Cacheable, Echo, Fixed, FlapSchedule, Flapper, H2cOnly, MockUpstream,
    Mtls, Reset, Slow, StallBody,
};
use crate::{metrics, wait};
use nix::sys::signal::Signal;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        let label = describe(step);
        match runner.step(step).await {
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

fn describe(step: &Step) -> String {
    if let Some(t) = &step.traffic {
        format!(
            "traffic {} x {} {} (concurrency {})",
            t.requests.unwrap_or(0),
            t.method,
            t.path,
            t.concurrency
        )
    } else if let Some(b) = &step.background_traffic {
        format!("background_traffic `{}` {} {}", b.name, b.method, b.path)
    } else if let Some(j) = &step.join {
        format!("join `{}`", j.name)
    } else if let Some(u) = &step.upstream {
        let mut what = Vec::new();
        if let Some(s) = u.set {
            what.push(format!("set {s:?}").to_lowercase());
        }
        if let Some(b) = &u.behaviour {
            what.push(format!("behaviour {:?}", b.behaviour).to_lowercase());
        }
        if let Some(h) = u.health_status {
            what.push(format!("health status {h}"));
        }
        if u.flap.is_some() {
            what.push("flap".into());
        }
        if u.wait_flap_end {
            what.push("wait for the flapping to end".into());
        }
        format!("upstream {}: {}", u.name, what.join(", "))
    } else if let Some(s) = &step.signal {
        let name = match s.send {
            SignalKind::Term => "term",
            SignalKind::QuitUpgrade => "quit_upgrade",
            SignalKind::Int => "int",
            SignalKind::Hup => "hup",
        };
        format!("signal {name}")
    } else if let Some(r) = &step.reload {
        format!(
            "reload {} (expect {:?})",
            r.config.as_deref().unwrap_or("same file"),
            r.expect
        )
        .to_lowercase()
    } else if let Some(w) = &step.wait_until {
        match (&w.metric, &w.upstream, &w.background) {
            (Some(m), _, _) => format!(
                "wait_until {m} {} within {:?}",
                bounds(w.equals, w.at_least, w.at_most),
                w.within
            ),
            (_, Some(u), _) => format!(
                "wait_until upstream {u} hits >= {}",
                w.hits_at_least.unwrap_or(1)
            ),
            (_, _, Some(b)) => format!(
                "wait_until background `{b}` completed >= {}",
                w.completed_at_least.unwrap_or(1)
            ),
            _ => "wait_until".into(),
        }
    } else if let Some(d) = step.sleep {
        format!("sleep {d:?}")
    } else if let Some(m) = &step.assert_metric {
        format!(
            "assert_metric {} {}",
            m.metric,
            bounds(m.equals, m.at_least, m.at_most)
        )
    } else if step.snapshot.is_some() {
        "snapshot".into()
    } else if let Some(e) = &step.exit {
        format!("exit with code {} within {:?}", e.code, e.within)
    } else {
        "?".into()
    }
}

fn bounds(equals: Option<f64>, at_least: Option<f64>, at_most: Option<f64>) -> String {
    let mut parts = Vec::new();
    if let Some(v) = equals {
        parts.push(format!("== {v}"));
    }
    if let Some(v) = at_least {
        parts.push(format!(">= {v}"));
    }
    if let Some(v) = at_most {
        parts.push(format!("<= {v}"));
    }
    parts.join(" and ")
}

fn holds(value: f64, equals: Option<f64>, at_least: Option<f64>, at_most: Option<f64>) -> bool {
    equals.is_none_or(|e| value == e)
        && at_least.is_none_or(|l| value >= l)
        && at_most.is_none_or(|m| value <= m)
}

/// Splits `name{a="b",c="d"}` into a name and label pairs.
fn parse_selector(selector: &str) -> Result<(String, Vec<(String, String)>), String> {
    let bad = || format!("`{selector}` is not a metric selector like name{{label=\"value\"}}");
    let Some((name, rest)) = selector.split_once('{') else {
        return Ok((selector.trim().to_string(), Vec::new()));
    };
    let inner = rest.strip_suffix('}').ok_or_else(bad)?;
    let mut labels = Vec::new();
    for pair in inner.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(bad)?;
        let v = v
            .trim()
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(bad)?;
        labels.push((k.trim().to_string(), v.to_string()));
    }
    Ok((name.trim().to_string(), labels))
}

fn build_behaviour(
    name: &str,
    spec: &UpstreamSpec,
    certs: &TestCerts,
) -> Result<Arc<dyn Behaviour>, String> {
    let fixed = || {
        let mut f = Fixed {
            status: spec.status.unwrap_or(200),
            headers: spec
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body: spec.body.clone().unwrap_or_else(|| name.to_string()),
        };
        f.headers.sort();
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
        BehaviourKind::H2c => Arc::new(H2cOnly { inner: fixed() }),
        BehaviourKind::Cacheable => Arc::new(Cacheable::new(
            spec.cache_control.as_deref().unwrap_or("max-age=60"),
        )),
        BehaviourKind::Mtls => Arc::new(Mtls::new(certs, fixed())),
    })
}

struct Runner {
    name: String,
    /// Test certificates (`${certs.*}`), kept for the whole run.
    certs: TestCerts,
    _certs_dir: tempfile::TempDir,
    seed: u64,
    mocks: BTreeMap<String, Arc<MockUpstream>>,
    gateway: GatewayProcess,
    backgrounds: BTreeMap<String, Background>,
    flappers: BTreeMap<String, Flapper>,
    requests: usize,
    snapshots: Vec<(String, String)>,
}

impl Runner {
    async fn start(scenario: &Scenario, seed: u64) -> Result<Self, String> {
        let mut mocks = BTreeMap::new();
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
            let mock = MockUpstream::start_shared(name, build_behaviour(name, spec, &certs)?)
                .await
                .map_err(|e| format!("starting upstream {name}: {e}"))?;
            if spec.down {
                mock.down().await;
            }
            template = template.upstream(name, mock.addr());
            mocks.insert(name.clone(), Arc::new(mock));
        }
        let binary = gateway_binary()?;
        let gateway = start_gateway(&binary, &template).await?;
        Ok(Runner {
            name: scenario.name.clone(),
            certs,
            _certs_dir: certs_dir,
            seed,
            mocks,
            gateway,
            backgrounds: BTreeMap::new(),
            flappers: BTreeMap::new(),
            requests: 0,
            snapshots: Vec::new(),
        })
    }

    fn log_tail(&self) -> String {
        self.gateway.log_tail(30)
    }

    fn hits(&self) -> BTreeMap<String, u64> {
        self.mocks
            .iter()
            .map(|(n, m)| (n.clone(), m.hits()))
            .collect()
    }

    fn traffic_spec(&self, t: &TrafficStep, requests: usize) -> Result<TrafficSpec, String> {
        let port = self
            .gateway
            .var(&format!("port.{}", t.listener))
            .ok_or_else(|| format!("the config has no ${{port.{}}} listener", t.listener))?;
        let tls = t.tls.as_ref().map(|spec| ClientTls {
            ca: self.certs.ca().to_path_buf(),
            identity: spec.client_cert.then(|| {
                (
                    self.certs.client_cert().to_path_buf(),
                    self.certs.client_key().to_path_buf(),
                )
            }),
        });
        // The test server certificate names `localhost`.
        let base = match tls {
            Some(_) => format!("https://localhost:{port}"),
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
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body: t.body.clone(),
            requests,
            concurrency: t.concurrency,
            http2: t.http2,
            keepalive: t.keepalive,
            timeout: t.timeout,
        })
    }

    fn check(
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
        let found = problems(expect, summary, &deltas);
        if found.is_empty() {
            Ok(summary.describe())
        } else {
            Err(format!("{}\n({})", found.join("\n"), summary.describe()))
        }
    }

    /// The metrics once two reads 50 ms apart agree (at most 2 s): the
    /// gateway counts a request in its logging phase, just after the client
    /// got the response, so a read right after a traffic step can be one
    /// request short.
    async fn settled_metrics(&self) -> String {
        let mut last = self.gateway.metrics().await;
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.gateway.metrics().await;
            if now == last {
                return now;
            }
            last = now;
        }
        last
    }

    async fn metric(&self, selector: &str) -> Result<f64, String> {
        let (name, labels) = parse_selector(selector)?;
        let labels: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Ok(metrics::value(&self.gateway.metrics().await, &name, &labels).unwrap_or(0.0))
    }

    async fn step(&mut self, step: &Step) -> Result<String, String> {
        if let Some(t) = &step.traffic {
            let before = self.hits();
            let summary = traffic::run(&self.traffic_spec(t, t.requests.unwrap_or(0))?).await?;
            self.requests += summary.sent();
            return self.check(&t.expect, &summary, &before);
        }
        if let Some(b) = &step.background_traffic {
            let spec = self.traffic_spec(b, b.requests.unwrap_or(100_000))?;
            if self.backgrounds.contains_key(&b.name) {
                return Err(format!(
                    "background traffic `{}` is already running",
                    b.name
                ));
            }
            self.backgrounds
                .insert(b.name.clone(), Background::start(spec, b.max_time));
            return Ok(String::new());
        }
        if let Some(j) = &step.join {
            let bg = self
                .backgrounds
                .remove(&j.name)
                .ok_or_else(|| format!("no background traffic named `{}`", j.name))?;
            let summary = bg.join().await?;
            self.requests += summary.sent();
            // `load` refuses `upstream_hits` here, so no hit baseline is needed.
            return self.check(&j.expect, &summary, &BTreeMap::new());
        }
        if let Some(u) = &step.upstream {
            return self.upstream_step(u).await;
        }
        if let Some(s) = &step.signal {
            return self.signal_step(s).await;
        }
        if let Some(r) = &step.reload {
            return self.reload_step(r).await;
        }
        if let Some(w) = &step.wait_until {
            return self.wait_step(w).await;
        }
        if let Some(d) = step.sleep {
            tokio::time::sleep(d).await;
            return Ok(String::new());
        }
        if let Some(m) = &step.assert_metric {
            self.settled_metrics().await;
            let v = self.metric(&m.metric).await?;
            return if holds(v, m.equals, m.at_least, m.at_most) {
                Ok(format!("{} = {v}", m.metric))
            } else {
                Err(format!(
                    "{} = {v}, expected {}",
                    m.metric,
                    bounds(m.equals, m.at_least, m.at_most)
                ))
            };
        }
        if let Some(s) = &step.snapshot {
            let hits = if s.hits { self.hits() } else { BTreeMap::new() };
            let text = normalise(&self.settled_metrics().await, &s.metrics, &s.nonzero, &hits);
            let name = match &s.name {
                Some(suffix) => format!("{}-{suffix}", self.name),
                None => self.name.clone(),
            };
            let lines = text.lines().count();
            self.snapshots.push((name, text));
            return Ok(format!("{lines} series"));
        }
        if let Some(e) = &step.exit {
            let status = self.gateway.wait_exit(e.within).await?;
            return match status.code() {
                Some(code) if code == e.code => Ok(format!("exited with {status}")),
                _ => Err(format!("exit status {status}, expected code {}", e.code)),
            };
        }
        Err("empty step".into())
    }

    async fn upstream_step(&mut self, u: &UpstreamStep) -> Result<String, String> {
        let mock = self.mocks[&u.name].clone();
        if let Some(spec) = &u.behaviour {
            mock.set_behaviour_shared(build_behaviour(&u.name, spec, &self.certs)?);
        }
        if let Some(status) = u.health_status {
            mock.set_health_status(status);
        }
        match u.set {
            Some(UpState::Down) => mock.down().await,
            Some(UpState::Up) => mock
                .up()
                .await
                .map_err(|e| format!("bringing {} up: {e}", u.name))?,
            None => {}
        }
        let mut detail = String::new();
        if let Some(flap) = &u.flap {
            let schedule = FlapSchedule::from_seed(self.seed, flap.cycles, flap.min, flap.max);
            detail = format!("schedule from seed {}: {schedule}", self.seed);
            self.flappers
                .insert(u.name.clone(), Flapper::spawn(mock.clone(), schedule));
        }
        if u.wait_flap_end {
            let flapper = self
                .flappers
                .remove(&u.name)
                .ok_or_else(|| format!("upstream {} is not flapping", u.name))?;
            flapper.join().await;
        }
        Ok(detail)
    }

    async fn signal_step(&mut self, s: &SignalStep) -> Result<String, String> {
        let expect_exit = |status: std::process::ExitStatus| match s.expect_exit {
            Some(code) if status.code() != Some(code) => {
                Err(format!("exit status {status}, expected code {code}"))
            }
            _ => Ok(format!("exited with {status}")),
        };
        match s.send {
            SignalKind::Hup => {
                self.gateway.signal(Signal::SIGHUP)?;
                Ok(String::new())
            }
            SignalKind::Term | SignalKind::Int => {
                let sig = if s.send == SignalKind::Term {
                    Signal::SIGTERM
                } else {
                    Signal::SIGINT
                };
                self.gateway.signal(sig)?;
                if s.expect_exit.is_none() {
                    return Ok(String::new());
                }
                let status = self.gateway.wait_exit(s.within).await?;
                expect_exit(status)
            }
            SignalKind::QuitUpgrade => {
                let mut next = self.gateway.spawn_upgrade()?;
                let sock = Path::new(self.gateway.var("dir").unwrap_or(".")).join("upgrade.sock");
                wait::until(
                    "the new process to wait on the upgrade socket",
                    s.within,
                    || std::future::ready(sock.exists().then_some(())),
                )
                .await?;
                self.gateway.signal(Signal::SIGQUIT)?;
                next.wait_ready().await?;
                let mut old = std::mem::replace(&mut self.gateway, next);
                let status = old.wait_exit(s.within).await?;
                expect_exit(status)
                    .map(|d| format!("new pid {}, old process {d}", self.gateway.pid()))
            }
        }
    }

    async fn reload_step(&mut self, r: &ReloadStep) -> Result<String, String> {
        if let Some(path) = &r.config {
            let text = std::fs::read_to_string(workspace_root().join(path))
                .map_err(|e| format!("{path}: {e}"))?;
            self.gateway.rewrite_config(&text)?;
        }
        let (status, body) = self.gateway.reload().await?;
        let accepted = status == 200;
        match (r.expect, accepted) {
            (ReloadResult::Accepted, true) => Ok(format!("generation {}", body["generation"])),
            (ReloadResult::Rejected, false) => {
                let error = body["error"].as_str().unwrap_or_default().to_string();
                match &r.error_contains {
                    Some(needle) if !error.contains(needle.as_str()) => Err(format!(
                        "rejected, but the message lacks `{needle}`: {error}"
                    )),
                    _ => Ok(format!("rejected: {error}")),
                }
            }
            (want, _) => Err(format!("expected {want:?}, got HTTP {status}: {body}")),
        }
    }

    async fn wait_step(&mut self, w: &WaitStep) -> Result<String, String> {
        if let Some(selector) = &w.metric {
            let (equals, at_least, at_most) = (w.equals, w.at_least, w.at_most);
            let what = format!("{selector} {}", bounds(equals, at_least, at_most));
            let result = wait::until(&what, w.within, || async {
                match self.metric(selector).await {
                    Ok(v) if holds(v, equals, at_least, at_most) => Some(Ok(v)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                }
            })
            .await;
            return match result {
                Ok(Ok(v)) => Ok(format!("{selector} = {v}")),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(format!(
                    "{e}; now {}",
                    self.metric(selector).await.unwrap_or(f64::NAN)
                )),
            };
        }
        if let Some(name) = &w.upstream {
            let mock = self
                .mocks
                .get(name)
                .ok_or_else(|| format!("unknown upstream `{name}`"))?
                .clone();
            let want = w.hits_at_least.unwrap_or(1);
            wait::until(
                &format!("upstream {name} to count {want} hits"),
                w.within,
                || std::future::ready((mock.hits() >= want).then_some(())),
            )
            .await?;
            return Ok(format!("{} hits", mock.hits()));
        }
        if let Some(name) = &w.background {
            let bg = self
                .backgrounds
                .get(name)
                .ok_or_else(|| format!("no background traffic named `{name}`"))?;
            let want = w.completed_at_least.unwrap_or(1);
            wait::until(
                &format!("background `{name}` to complete {want} requests"),
                w.within,
                || std::future::ready((bg.completed() >= want).then_some(())),
            )
            .await?;
            return Ok(format!("{} completed", bg.completed()));
        }
        Err("nothing to wait for".into())
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
    use super::*;

    #[test]
    fn selectors_parse() {
        let (name, labels) =
            parse_selector(r#"gateway_upstream_healthy{cluster="c", endpoint="blue"}"#).unwrap();
        assert_eq!(name, "gateway_upstream_healthy");
        assert_eq!(
            labels,
            vec![
                ("cluster".into(), "c".into()),
                ("endpoint".into(), "blue".into())
            ]
        );
        assert_eq!(parse_selector("up").unwrap(), ("up".into(), vec![]));
        assert!(parse_selector("x{a=b}").is_err());
    }
}
