//! `sleep: 2s`: only where the story is about time.

use super::kind::StepKind;
use crate::scenario::context::RunContext;
use crate::scenario::values::duration;
use async_trait::async_trait;
use serde::de::Deserializer;
use serde::Deserialize;
use std::time::Duration;

/// A pause, written as a duration (`sleep: 2s`).
#[derive(Debug, Clone, Copy)]
pub struct SleepStep(pub Duration);

impl<'de> Deserialize<'de> for SleepStep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        duration(d).map(SleepStep)
    }
}

#[async_trait]
impl StepKind for SleepStep {
    fn describe(&self) -> String {
        format!("sleep {:?}", self.0)
    }

    async fn run(&self, _ctx: &mut RunContext) -> Result<String, String> {
        tokio::time::sleep(self.0).await;
        Ok(String::new())
    }
}
