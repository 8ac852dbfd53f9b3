//! `assert_upstream`: check a mock's totals since the scenario started.

use super::{Problem, StepKind};
use crate::scenario::model::{AssertUpstreamStep, BehaviourKind, Scenario};
use crate::scenario::runner::Runner;
use async_trait::async_trait;

#[async_trait]
impl StepKind for AssertUpstreamStep {
    fn describe(&self) -> String {
        let mut what = Vec::new();
        if let Some(h) = self.hits {
            what.push(format!("hits == {h}"));
        }
        if let Some(b) = self.complete_bodies {
            what.push(format!("complete_bodies == {b}"));
        }
        format!("assert_upstream {}: {}", self.name, what.join(", "))
    }

    fn check(&self, scenario: &Scenario) -> Result<(), Problem> {
        let Some(upstream) = scenario.upstreams.get(&self.name) else {
            return Err(("name".into(), format!("unknown upstream `{}`", self.name)));
        };
        if self.hits.is_none() && self.complete_bodies.is_none() {
            return Err((
                String::new(),
                "nothing to check; give `hits` or `complete_bodies`".into(),
            ));
        }
        if self.complete_bodies.is_some() && upstream.behaviour != BehaviourKind::Echo {
            return Err((
                "complete_bodies".into(),
                format!(
                    "upstream `{}` does not read request bodies; complete_bodies needs behaviour `echo`",
                    self.name
                ),
            ));
        }
        Ok(())
    }

    async fn run(&self, runner: &mut Runner) -> Result<String, String> {
        let mock = runner
            .mocks
            .get(&self.name)
            .ok_or_else(|| format!("unknown upstream `{}`", self.name))?;
        let hits = mock.hits();
        if let Some(want) = self.hits.filter(|w| *w != hits) {
            return Err(format!(
                "upstream {} served {hits} requests, expected {want}",
                self.name
            ));
        }
        let bodies = mock.complete_bodies();
        if let Some(want) = self.complete_bodies.filter(|w| *w != bodies) {
            return Err(format!(
                "upstream {} received {bodies} complete request bodies, expected {want}",
                self.name
            ));
        }
        Ok(format!("{hits} hits, {bodies} complete bodies"))
    }
}
