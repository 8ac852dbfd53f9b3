//! `join`: stop background load and check everything it sent.

use super::kind::{Problem, StepKind};
use crate::scenario::context::RunContext;
use crate::scenario::expect::Expect;
use crate::scenario::mock::Upstreams;
use crate::scenario::values::default_background;
use async_trait::async_trait;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Stop background load.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinStep {
    /// Which background load.
    #[serde(default = "default_background")]
    pub name: String,
    /// What must hold for everything it sent.
    #[serde(default)]
    pub expect: Expect,
}

#[async_trait]
impl StepKind for JoinStep {
    fn describe(&self) -> String {
        format!("join `{}`", self.name)
    }

    fn check(&self, _upstreams: &Upstreams) -> Result<(), Problem> {
        if self.expect.upstream_hits.is_empty() {
            Ok(())
        } else {
            Err((
                "expect.upstream_hits".into(),
                "mock hits cannot be attributed to background load; use served_by".into(),
            ))
        }
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<String, String> {
        let bg = ctx
            .backgrounds
            .remove(&self.name)
            .ok_or_else(|| format!("no background traffic named `{}`", self.name))?;
        let summary = bg.join().await?;
        ctx.record_joined(&self.name, &summary);
        // `check` refuses `upstream_hits` here, so no hit baseline is needed.
        ctx.check(&self.expect, &summary, &BTreeMap::new())
    }
}
