//! `wait_until`: poll a metric, a mock's hit count or background progress
//! until the condition holds, failing at the deadline.

use super::{bounds, holds, Problem, StepKind};
use crate::scenario::model::{Scenario, WaitStep};
use crate::scenario::runner::Runner;
use crate::scenario::selector::parse_selector;
use crate::wait;
use async_trait::async_trait;

impl WaitStep {
    /// Polls until the metric exists and holds; a series that does not
    /// exist yet is polled too, and reported as never appeared.
    async fn metric(&self, runner: &Runner, selector: &str) -> Result<String, String> {
        let (equals, at_least, at_most) = (self.equals, self.at_least, self.at_most);
        let what = format!("{selector} {}", bounds(equals, at_least, at_most));
        let result = wait::until(&what, self.within, || async {
            match runner.metric(selector).await {
                Ok(v) if holds(v, equals, at_least, at_most) => Some(v),
                _ => None,
            }
        })
        .await;
        match result {
            Ok(v) => Ok(format!("{selector} = {v}")),
            Err(e) => match runner.metric(selector).await {
                Ok(v) => Err(format!("{e}; now {v}")),
                Err(_) => Err(format!("{e}; `{selector}` never appeared")),
            },
        }
    }

    async fn upstream(&self, runner: &Runner, name: &str) -> Result<String, String> {
        let mock = runner
            .mocks
            .get(name)
            .ok_or_else(|| format!("unknown upstream `{name}`"))?;
        let want = self.hits_at_least.unwrap_or(1);
        wait::until(
            &format!("upstream {name} to count {want} hits"),
            self.within,
            || std::future::ready((mock.hits() >= want).then_some(())),
        )
        .await?;
        Ok(format!("{} hits", mock.hits()))
    }

    async fn background(&self, runner: &Runner, name: &str) -> Result<String, String> {
        let bg = runner
            .backgrounds
            .get(name)
            .ok_or_else(|| format!("no background traffic named `{name}`"))?;
        let want = self.completed_at_least.unwrap_or(1);
        wait::until(
            &format!("background `{name}` to complete {want} requests"),
            self.within,
            || std::future::ready((bg.completed() >= want).then_some(())),
        )
        .await?;
        Ok(format!("{} completed", bg.completed()))
    }
}

#[async_trait]
impl StepKind for WaitStep {
    fn describe(&self) -> String {
        match (&self.metric, &self.upstream, &self.background) {
            (Some(m), _, _) => format!(
                "wait_until {m} {} within {:?}",
                bounds(self.equals, self.at_least, self.at_most),
                self.within
            ),
            (_, Some(u), _) => format!(
                "wait_until upstream {u} hits >= {}",
                self.hits_at_least.unwrap_or(1)
            ),
            (_, _, Some(b)) => format!(
                "wait_until background `{b}` completed >= {}",
                self.completed_at_least.unwrap_or(1)
            ),
            _ => "wait_until".into(),
        }
    }

    fn check(&self, _scenario: &Scenario) -> Result<(), Problem> {
        let conditions = [
            self.metric.is_some(),
            self.upstream.is_some(),
            self.background.is_some(),
        ];
        if conditions.iter().filter(|c| **c).count() == 1 {
            match &self.metric {
                Some(selector) => parse_selector(selector)
                    .map(|_| ())
                    .map_err(|e| ("metric".into(), e)),
                None => Ok(()),
            }
        } else {
            Err((
                String::new(),
                "wait for exactly one of `metric`, `upstream` or `background`".into(),
            ))
        }
    }

    async fn run(&self, runner: &mut Runner) -> Result<String, String> {
        match (&self.metric, &self.upstream, &self.background) {
            (Some(selector), _, _) => self.metric(runner, selector).await,
            (_, Some(name), _) => self.upstream(runner, name).await,
            (_, _, Some(name)) => self.background(runner, name).await,
            _ => Err("nothing to wait for".into()),
        }
    }
}
