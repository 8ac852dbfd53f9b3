//! `sleep: 2s`: only where the story is about time.

use super::StepKind;
use crate::scenario::model::SleepStep;
use crate::scenario::runner::Runner;
use async_trait::async_trait;

#[async_trait]
impl StepKind for SleepStep {
    fn describe(&self) -> String {
        format!("sleep {:?}", self.0)
    }

    async fn run(&self, _runner: &mut Runner) -> Result<String, String> {
        tokio::time::sleep(self.0).await;
        Ok(String::new())
    }
}
