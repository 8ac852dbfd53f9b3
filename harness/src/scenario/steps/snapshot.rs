//! `snapshot`: normalised counters and gauges (and mock hit counts),
//! compared with the stored snapshot by the test. Every family named must
//! exist.

use super::StepKind;
use crate::scenario::model::SnapshotStep;
use crate::scenario::runner::Runner;
use crate::scenario::snapshot::{missing_families, normalise};
use async_trait::async_trait;
use std::collections::BTreeMap;

#[async_trait]
impl StepKind for SnapshotStep {
    fn describe(&self) -> String {
        match &self.name {
            Some(name) => format!("snapshot `{name}`"),
            None => "snapshot".into(),
        }
    }

    async fn run(&self, runner: &mut Runner) -> Result<String, String> {
        let hits = if self.hits {
            runner.hits()
        } else {
            BTreeMap::new()
        };
        let metrics = runner.settled_metrics().await?;
        let missing = missing_families(&metrics, self.metrics.iter().chain(&self.nonzero));
        if !missing.is_empty() {
            return Err(format!(
                "the gateway exports no series of {}",
                missing.join(", ")
            ));
        }
        let text = normalise(&metrics, &self.metrics, &self.nonzero, &hits);
        let name = match &self.name {
            Some(suffix) => format!("{}-{suffix}", runner.name),
            None => runner.name.clone(),
        };
        let lines = text.lines().count();
        runner.snapshots.push((name, text));
        Ok(format!("{lines} series"))
    }
}
