//! `exit`: wait for the gateway to exit with a code.

use super::StepKind;
use crate::scenario::model::ExitStep;
use crate::scenario::runner::Runner;
use async_trait::async_trait;

#[async_trait]
impl StepKind for ExitStep {
    fn describe(&self) -> String {
        format!("exit with code {} within {:?}", self.code, self.within)
    }

    async fn run(&self, runner: &mut Runner) -> Result<String, String> {
        let status = runner.gateway.wait_exit(self.within).await?;
        match status.code() {
            Some(code) if code == self.code => Ok(format!("exited with {status}")),
            _ => Err(format!("exit status {status}, expected code {}", self.code)),
        }
    }
}
