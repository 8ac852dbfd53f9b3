//! `assert_upstream`: check a mock's totals since the scenario started.

use super::{Problem, StepKind};
use crate::scenario::model::{AssertUpstreamStep, Scenario};
use crate::scenario::runner::Runner;
use async_trait::async_trait;

#[async_trait]
impl StepKind for AssertUpstreamStep {
    fn describe(&self) -> String {
        let mut what = Vec::new();
        if let Some(h) = self.hits {
            what.push(format!("hits == {h}"));
        }
        format!("assert_upstream {}: {}", self.name, what.join(", "))
    }

    fn check(&self, scenario: &Scenario) -> Result<(), Problem> {
        if !scenario.upstreams.contains_key(&self.name) {
            return Err(("name".into(), format!("unknown upstream `{}`", self.name)));
        }
        if self.hits.is_none() {
            return Err((String::new(), "nothing to check; give `hits`".into()));
        }
        Ok(())
    }

    async fn run(&self, runner: &mut Runner) -> Result<String, String> {
        let mock = runner
            .mocks
            .get(&self.name)
            .ok_or_else(|| format!("unknown upstream `{}`", self.name))?;
        let hits = mock.hits();
        match self.hits {
            Some(want) if hits != want => Err(format!(
                "upstream {} served {hits} requests, expected {want}",
                self.name
            )),
            _ => Ok(format!("{} hits", hits)),
        }
    }
}
