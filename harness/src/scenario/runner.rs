//! Executes a scenario step by step, printing each step's outcome. The
//! [`RunContext`] holds what steps act on; each step kind lives in `steps/`.

use super::context::RunContext;
use super::load::load;
use std::path::Path;
use std::time::Instant;

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
    let mut ctx = RunContext::start(
        &scenario.name,
        seed,
        &scenario.upstreams,
        &scenario.gateway.config,
    )
    .await?;
    let total = scenario.steps.len();
    for (i, step) in scenario.steps.iter().enumerate() {
        let step_started = Instant::now();
        let label = step.kind().describe();
        match step.kind().run(&mut ctx).await {
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
                let log = ctx.log_tail();
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
    ctx.finish().await?;
    let report = Report {
        name: scenario.name.clone(),
        seed,
        steps: total,
        requests: ctx.requests,
        snapshots: ctx.snapshots.clone(),
        seconds: started.elapsed().as_secs_f64(),
    };
    println!(
        "PASS {} ({} steps, {} requests, {:.1}s)\nscenario-result name={} steps={} requests={} result=PASS seconds={:.1}",
        report.name, report.steps, report.requests, report.seconds, report.name, report.steps, report.requests, report.seconds
    );
    Ok(report)
}
