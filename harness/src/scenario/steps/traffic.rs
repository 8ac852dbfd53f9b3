//! `traffic` (a batch of requests, checked at once) and
//! `background_traffic` (load that runs during later steps until `join`).

use super::{Problem, StepKind};
use crate::scenario::model::{BackgroundStep, Scenario, TrafficStep};
use crate::scenario::runner::Runner;
use crate::traffic::{self, Background};
use async_trait::async_trait;

/// Request cap of background load that gives none.
const BACKGROUND_CAP: usize = 100_000;

#[async_trait]
impl StepKind for TrafficStep {
    fn describe(&self) -> String {
        let pace = self.rate.map(|r| format!(", {r}")).unwrap_or_default();
        format!(
            "traffic {} x {} {} (concurrency {}{pace})",
            self.requests.unwrap_or(0),
            self.method,
            self.path,
            self.concurrency
        )
    }

    fn check(&self, _scenario: &Scenario) -> Result<(), Problem> {
        if self.requests.is_none() {
            return Err((
                "requests".into(),
                "a traffic step needs a request count".into(),
            ));
        }
        check_body(self)
    }

    async fn run(&self, runner: &mut Runner) -> Result<String, String> {
        let before = runner.hits();
        let spec = runner.traffic_spec(self, self.requests.unwrap_or(0))?;
        let summary = traffic::run(&spec).await?;
        runner.record_sent(&summary, &self.listener);
        runner.check(&self.expect, &summary, &before)
    }
}

/// `body` and `body_size` exclude each other; `chunked` needs one of them.
fn check_body(t: &TrafficStep) -> Result<(), Problem> {
    if t.body.is_some() && t.body_size.is_some() {
        return Err((
            "body_size".into(),
            "give either `body` or `body_size`, not both".into(),
        ));
    }
    if t.chunked && t.body.is_none() && t.body_size.is_none() {
        return Err((
            "chunked".into(),
            "a chunked request needs `body` or `body_size`".into(),
        ));
    }
    Ok(())
}

#[async_trait]
impl StepKind for BackgroundStep {
    fn describe(&self) -> String {
        format!(
            "background_traffic `{}` {} {}",
            self.0.name, self.0.method, self.0.path
        )
    }

    fn check(&self, _scenario: &Scenario) -> Result<(), Problem> {
        check_body(&self.0)
    }

    async fn run(&self, runner: &mut Runner) -> Result<String, String> {
        let b = &self.0;
        if runner.backgrounds.contains_key(&b.name) {
            return Err(format!(
                "background traffic `{}` is already running",
                b.name
            ));
        }
        let spec = runner.traffic_spec(b, b.requests.unwrap_or(BACKGROUND_CAP))?;
        runner
            .backgrounds
            .insert(b.name.clone(), Background::start(spec, b.max_time));
        Ok(String::new())
    }
}
