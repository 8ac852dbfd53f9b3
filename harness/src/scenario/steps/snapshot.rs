//! `snapshot`: normalised counters and gauges (and mock hit counts),
//! compared with the stored snapshot by the test. Every family named must
//! exist.

use super::kind::StepKind;
use crate::scenario::context::RunContext;
use crate::scenario::snapshot::{missing_families, normalise};
use async_trait::async_trait;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Snapshot settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotStep {
    /// Snapshot name suffix (several snapshots in one scenario).
    #[serde(default)]
    pub name: Option<String>,
    /// Metric families included (all `gateway_*` counters and gauges when
    /// empty).
    #[serde(default)]
    pub metrics: Vec<String>,
    /// Families whose values depend on timing: recorded as `0` or `>0`.
    #[serde(default)]
    pub nonzero: Vec<String>,
    /// Include each mock's hit count (default true).
    #[serde(default = "default_true")]
    pub hits: bool,
}

fn default_true() -> bool {
    true
}

#[async_trait]
impl StepKind for SnapshotStep {
    fn describe(&self) -> String {
        match &self.name {
            Some(name) => format!("snapshot `{name}`"),
            None => "snapshot".into(),
        }
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<String, String> {
        let hits = if self.hits {
            ctx.hits()
        } else {
            BTreeMap::new()
        };
        let metrics = ctx.settled_metrics().await?;
        let missing = missing_families(&metrics, self.metrics.iter().chain(&self.nonzero));
        if !missing.is_empty() {
            return Err(format!(
                "the gateway exports no series of {}",
                missing.join(", ")
            ));
        }
        let text = normalise(&metrics, &self.metrics, &self.nonzero, &hits);
        let name = match &self.name {
            Some(suffix) => format!("{}-{suffix}", ctx.name),
            None => ctx.name.clone(),
        };
        let lines = text.lines().count();
        ctx.snapshots.push((name, text));
        Ok(format!("{lines} series"))
    }
}
