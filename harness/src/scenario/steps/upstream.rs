//! `upstream`: bring a mock down or up, change its behaviour or health
//! status, start a seeded flap schedule or wait for one to end.

use super::{Problem, StepKind};
use crate::scenario::model::{Scenario, UpState, UpstreamStep};
use crate::scenario::runner::{build_behaviour, fixed_body, Runner};
use crate::upstream::{FlapSchedule, Flapper};
use async_trait::async_trait;

#[async_trait]
impl StepKind for UpstreamStep {
    fn describe(&self) -> String {
        let mut what = Vec::new();
        if let Some(s) = self.set {
            what.push(format!("set {s:?}").to_lowercase());
        }
        if let Some(b) = &self.behaviour {
            what.push(format!("behaviour {:?}", b.behaviour).to_lowercase());
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

    fn check(&self, scenario: &Scenario) -> Result<(), Problem> {
        if scenario.upstreams.contains_key(&self.name) {
            Ok(())
        } else {
            Err(("name".into(), format!("unknown upstream `{}`", self.name)))
        }
    }

    async fn run(&self, runner: &mut Runner) -> Result<String, String> {
        let mock = runner
            .mocks
            .get(&self.name)
            .ok_or_else(|| format!("unknown upstream `{}`", self.name))?
            .clone();
        if let Some(spec) = &self.behaviour {
            mock.set_behaviour_shared(build_behaviour(&self.name, spec, &runner.certs)?);
            runner
                .bodies
                .insert(self.name.clone(), fixed_body(&self.name, spec));
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
            let schedule = FlapSchedule::from_seed(runner.seed, flap.cycles, flap.min, flap.max);
            detail = format!("schedule from seed {}: {schedule}", runner.seed);
            runner
                .flappers
                .insert(self.name.clone(), Flapper::spawn(mock.clone(), schedule));
        }
        if self.wait_flap_end {
            let flapper = runner
                .flappers
                .remove(&self.name)
                .ok_or_else(|| format!("upstream {} is not flapping", self.name))?;
            flapper.join().await;
        }
        Ok(detail)
    }
}
