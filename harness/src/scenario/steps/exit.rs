//! `exit`: wait for the gateway to exit with a code.

use super::kind::StepKind;
use crate::scenario::context::RunContext;
use crate::scenario::values::duration;
use async_trait::async_trait;
use serde::Deserialize;
use std::time::Duration;

/// Wait for the gateway to exit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitStep {
    /// Expected exit code.
    pub code: i32,
    /// Deadline.
    #[serde(deserialize_with = "duration")]
    pub within: Duration,
}

#[async_trait]
impl StepKind for ExitStep {
    fn describe(&self) -> String {
        format!("exit with code {} within {:?}", self.code, self.within)
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<String, String> {
        let status = ctx.gateway.wait_exit(self.within).await?;
        match status.code() {
            Some(code) if code == self.code => Ok(format!("exited with {status}")),
            _ => Err(format!("exit status {status}, expected code {}", self.code)),
        }
    }
}
