//! `wait_until`: poll a metric, a mock's hit count or background progress
//! until the condition holds, failing at the deadline.

use super::assert_metric::{bounds, holds};
use super::kind::{Problem, StepKind};
use crate::scenario::context::RunContext;
use crate::scenario::mock::Upstreams;
use crate::scenario::selector::parse_selector;
use crate::scenario::values::duration;
use crate::wait;
use async_trait::async_trait;
use serde::Deserialize;
use std::time::Duration;

/// Wait for one condition: a metric, a mock's hits, or background progress.
/// The metric fields repeat [`MetricCheck`](super::assert_metric::MetricCheck)'s because serde cannot flatten
/// a struct into one that refuses unknown keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    /// Metric selector, as in [`MetricCheck`](super::assert_metric::MetricCheck).
    #[serde(default)]
    pub metric: Option<String>,
    /// With `metric`: must equal.
    #[serde(default)]
    pub equals: Option<f64>,
    /// With `metric`: must be at least.
    #[serde(default)]
    pub at_least: Option<f64>,
    /// With `metric`: must be at most.
    #[serde(default)]
    pub at_most: Option<f64>,
    /// Or: a mock's hit count reaching a value.
    #[serde(default)]
    pub upstream: Option<String>,
    /// With `upstream`: hits to reach.
    #[serde(default)]
    pub hits_at_least: Option<u64>,
    /// Or: background load having completed this many requests.
    #[serde(default)]
    pub background: Option<String>,
    /// With `background`: completed requests to reach.
    #[serde(default)]
    pub completed_at_least: Option<usize>,
    /// Deadline.
    #[serde(deserialize_with = "duration")]
    pub within: Duration,
}

impl WaitStep {
    /// Polls until the metric exists and holds; a series that does not
    /// exist yet is polled too, and reported as never appeared.
    async fn metric(&self, ctx: &RunContext, selector: &str) -> Result<String, String> {
        let (equals, at_least, at_most) = (self.equals, self.at_least, self.at_most);
        let what = format!("{selector} {}", bounds(equals, at_least, at_most));
        let result = wait::until(&what, self.within, || async {
            match ctx.metric(selector).await {
                Ok(v) if holds(v, equals, at_least, at_most) => Some(v),
                _ => None,
            }
        })
        .await;
        match result {
            Ok(v) => Ok(format!("{selector} = {v}")),
            Err(e) => match ctx.metric(selector).await {
                Ok(v) => Err(format!("{e}; now {v}")),
                Err(_) => Err(format!("{e}; `{selector}` never appeared")),
            },
        }
    }

    async fn upstream(&self, ctx: &RunContext, name: &str) -> Result<String, String> {
        let mock = ctx
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

    async fn background(&self, ctx: &RunContext, name: &str) -> Result<String, String> {
        let bg = ctx
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

    fn check(&self, _upstreams: &Upstreams) -> Result<(), Problem> {
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

    async fn run(&self, ctx: &mut RunContext) -> Result<String, String> {
        match (&self.metric, &self.upstream, &self.background) {
            (Some(selector), _, _) => self.metric(ctx, selector).await,
            (_, Some(name), _) => self.upstream(ctx, name).await,
            (_, _, Some(name)) => self.background(ctx, name).await,
            _ => Err("nothing to wait for".into()),
        }
    }
}
