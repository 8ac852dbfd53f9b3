//! `upstream`: bring a mock down or up, change its behaviour or health
//! status, start a seeded flap schedule or wait for one to end.

use super::kind::{Problem, StepKind};
use crate::scenario::context::RunContext;
use crate::scenario::mock::{BehaviourSpec, Upstreams};
use crate::scenario::values::duration;
use crate::upstream::{FlapSchedule, Flapper};
use async_trait::async_trait;
use serde::Deserialize;
use std::time::Duration;

/// Changes to a mock upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamStep {
    /// Which mock.
    pub name: String,
    /// `up` or `down`.
    #[serde(default)]
    pub set: Option<UpState>,
    /// A new behaviour (`down` and `unix` stay as the mock started).
    #[serde(default)]
    pub behaviour: Option<BehaviourSpec>,
    /// Status for HTTP health checks.
    #[serde(default)]
    pub health_status: Option<u16>,
    /// Start flapping on a seeded schedule.
    #[serde(default)]
    pub flap: Option<FlapSpec>,
    /// Wait for a running flap schedule to end.
    #[serde(default)]
    pub wait_flap_end: bool,
    /// Let requests parked by a `hold: true` mock go.
    #[serde(default)]
    pub release: bool,
    /// Make the mock's next response a new version (cacheable).
    #[serde(default)]
    pub bump_version: bool,
}

/// Listener state of a mock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpState {
    /// Listening.
    Up,
    /// Connections refused.
    Down,
}

/// A seeded flap schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlapSpec {
    /// Up/down cycles.
    pub cycles: usize,
    /// Shortest phase.
    #[serde(deserialize_with = "duration")]
    pub min: Duration,
    /// Longest phase.
    #[serde(deserialize_with = "duration")]
    pub max: Duration,
}

#[async_trait]
impl StepKind for UpstreamStep {
    fn describe(&self) -> String {
        let mut what = Vec::new();
        if let Some(s) = self.set {
            what.push(format!("set {s:?}").to_lowercase());
        }
        if let Some(b) = &self.behaviour {
            what.push(format!("behaviour {}", b.name()));
        }
        if let Some(h) = self.health_status {
            what.push(format!("health status {h}"));
        }
        if self.flap.is_some() {
            what.push("flap".into());
        }
        if self.wait_flap_end {
            what.push("wait for the flapping to end".into());
        }
        if self.release {
            what.push("release parked requests".into());
        }
        if self.bump_version {
            what.push("bump version".into());
        }
        format!("upstream {}: {}", self.name, what.join(", "))
    }

    fn check(&self, upstreams: &Upstreams) -> Result<(), Problem> {
        if upstreams.contains_key(&self.name) {
            Ok(())
        } else {
            Err(("name".into(), format!("unknown upstream `{}`", self.name)))
        }
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<String, String> {
        let mock = ctx
            .mocks
            .get(&self.name)
            .ok_or_else(|| format!("unknown upstream `{}`", self.name))?
            .clone();
        if let Some(spec) = &self.behaviour {
            ctx.set_behaviour(&self.name, spec)?;
        }
        if self.release && !mock.release() {
            return Err(format!("upstream {} parks no requests", self.name));
        }
        if self.bump_version && !mock.bump_version() {
            return Err(format!("upstream {} has no versions", self.name));
        }
        if let Some(status) = self.health_status {
            mock.set_health_status(status);
        }
        match self.set {
            Some(UpState::Down) => mock.down().await,
            Some(UpState::Up) => mock
                .up()
                .await
                .map_err(|e| format!("bringing {} up: {e}", self.name))?,
            None => {}
        }
        let mut detail = String::new();
        if let Some(flap) = &self.flap {
            let schedule = FlapSchedule::from_seed(ctx.seed, flap.cycles, flap.min, flap.max);
            detail = format!("schedule from seed {}: {schedule}", ctx.seed);
            ctx.flappers
                .insert(self.name.clone(), Flapper::spawn(mock.clone(), schedule));
        }
        if self.wait_flap_end {
            let flapper = ctx
                .flappers
                .remove(&self.name)
                .ok_or_else(|| format!("upstream {} is not flapping", self.name))?;
            flapper.join().await;
        }
        Ok(detail)
    }
}
