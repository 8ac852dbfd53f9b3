//! `assert_metric`: check a metric once the gateway has counted every
//! request sent so far. A series that does not exist is an error, not 0.

use super::{bounds, holds, Problem, StepKind};
use crate::scenario::model::{MetricCheck, Scenario};
use crate::scenario::runner::Runner;
use crate::scenario::selector::parse_selector;
use async_trait::async_trait;

#[async_trait]
impl StepKind for MetricCheck {
    fn describe(&self) -> String {
        format!(
            "assert_metric {} {}",
            self.metric,
            bounds(self.equals, self.at_least, self.at_most)
        )
    }

    fn check(&self, _scenario: &Scenario) -> Result<(), Problem> {
        parse_selector(&self.metric)
            .map(|_| ())
            .map_err(|e| ("metric".into(), e))
    }

    async fn run(&self, runner: &mut Runner) -> Result<String, String> {
        let text = runner.settled_metrics().await?;
        let v = runner.metric_in(&text, &self.metric)?;
        if holds(v, self.equals, self.at_least, self.at_most) {
            Ok(format!("{} = {v}", self.metric))
        } else {
            Err(format!(
                "{} = {v}, expected {}",
                self.metric,
                bounds(self.equals, self.at_least, self.at_most)
            ))
        }
    }
}
