//! `assert_metric`: check a metric once the gateway has counted every
//! request sent so far. A series that does not exist is an error, not 0.

use super::kind::{Problem, StepKind};
use crate::scenario::context::RunContext;
use crate::scenario::mock::Upstreams;
use crate::scenario::selector::parse_selector;
use async_trait::async_trait;
use serde::Deserialize;

/// A metric comparison. `metric` is `name{label="value",...}`; matching
/// series are summed (absent counts as 0).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricCheck {
    /// Selector.
    pub metric: String,
    /// Must equal.
    #[serde(default)]
    pub equals: Option<f64>,
    /// Must be at least.
    #[serde(default)]
    pub at_least: Option<f64>,
    /// Must be at most.
    #[serde(default)]
    pub at_most: Option<f64>,
}

#[async_trait]
impl StepKind for MetricCheck {
    fn describe(&self) -> String {
        format!(
            "assert_metric {} {}",
            self.metric,
            bounds(self.equals, self.at_least, self.at_most)
        )
    }

    fn check(&self, _upstreams: &Upstreams) -> Result<(), Problem> {
        parse_selector(&self.metric)
            .map(|_| ())
            .map_err(|e| ("metric".into(), e))
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<String, String> {
        let text = ctx.settled_metrics().await?;
        let v = ctx.metric_in(&text, &self.metric)?;
        if holds(v, self.equals, self.at_least, self.at_most) {
            Ok(format!("{} = {v}", self.metric))
        } else {
            Err(format!(
                "{} = {v}, expected {}",
                self.metric,
                bounds(self.equals, self.at_least, self.at_most)
            ))
        }
    }
}

/// `== 1 and >= 2` for the given bounds.
pub(super) fn bounds(equals: Option<f64>, at_least: Option<f64>, at_most: Option<f64>) -> String {
    let mut parts = Vec::new();
    if let Some(v) = equals {
        parts.push(format!("== {v}"));
    }
    if let Some(v) = at_least {
        parts.push(format!(">= {v}"));
    }
    if let Some(v) = at_most {
        parts.push(format!("<= {v}"));
    }
    parts.join(" and ")
}

/// Whether `value` is within the given bounds.
pub(super) fn holds(
    value: f64,
    equals: Option<f64>,
    at_least: Option<f64>,
    at_most: Option<f64>,
) -> bool {
    equals.is_none_or(|e| value == e)
        && at_least.is_none_or(|l| value >= l)
        && at_most.is_none_or(|m| value <= m)
}
