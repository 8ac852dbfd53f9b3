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
        if let Some(p) = self.peak_in_flight {
            what.push(format!("peak in flight == {p}"));
        }
        format!("assert_upstream {}: {}", self.name, what.join(", "))
    }

    fn check(&self, scenario: &Scenario) -> Result<(), Problem> {
        if !scenario.upstreams.contains_key(&self.name) {
            return Err(("name".into(), format!("unknown upstream `{}`", self.name)));
        }
        if self.hits.is_none() && self.peak_in_flight.is_none() {
            return Err((
                String::new(),
                "nothing to check; give `hits` or `peak_in_flight`".into(),
            ));
        }
        Ok(())
    }

    async fn run(&self, runner: &mut Runner) -> Result<String, String> {
        let mock = runner
            .mocks
            .get(&self.name)
            .ok_or_else(|| format!("unknown upstream `{}`", self.name))?;
        let (hits, peak) = (mock.hits(), mock.peak_in_flight());
        let mut problems = Vec::new();
        if let Some(want) = self.hits.filter(|w| *w != hits) {
            problems.push(format!(
                "upstream {} served {hits} requests, expected {want}",
                self.name
            ));
        }
        if let Some(want) = self.peak_in_flight.filter(|w| *w != peak) {
            problems.push(format!(
                "upstream {} answered at most {peak} requests at once, expected {want}",
                self.name
            ));
        }
        if problems.is_empty() {
            Ok(format!("{hits} hits, peak in flight {peak}"))
        } else {
            Err(problems.join("\n"))
        }
    }
}
