//! `join`: stop background load and check everything it sent.

use super::{Problem, StepKind};
use crate::scenario::model::{JoinStep, Scenario};
use crate::scenario::runner::Runner;
use async_trait::async_trait;
use std::collections::BTreeMap;

#[async_trait]
impl StepKind for JoinStep {
    fn describe(&self) -> String {
        format!("join `{}`", self.name)
    }

    fn check(&self, _scenario: &Scenario) -> Result<(), Problem> {
        if self.expect.upstream_hits.is_empty() {
            Ok(())
        } else {
            Err((
                "expect.upstream_hits".into(),
                "mock hits cannot be attributed to background load; use served_by".into(),
            ))
        }
    }

    async fn run(&self, runner: &mut Runner) -> Result<String, String> {
        let bg = runner
            .backgrounds
            .remove(&self.name)
            .ok_or_else(|| format!("no background traffic named `{}`", self.name))?;
        let summary = bg.join().await?;
        runner.record_joined(&self.name, &summary);
        // `check` refuses `upstream_hits` here, so no hit baseline is needed.
        runner.check(&self.expect, &summary, &BTreeMap::new())
    }
}
