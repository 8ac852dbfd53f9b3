//! `assert_metric`: check a metric once the gateway has counted every
//! request sent so far.

use super::{bounds, holds, StepKind};
use crate::scenario::model::MetricCheck;
use crate::scenario::runner::Runner;
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
