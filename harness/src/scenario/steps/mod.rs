//! One module per step kind. Each implements [`StepKind`]: a report label,
//! the checks that need the whole scenario (run when the file is loaded),
//! and the step itself. Adding a kind is a line in `model.rs`'s
//! `step_kinds!` list and a module here.

mod assert_metric;
mod assert_upstream;
mod exit;
mod grpc;
mod join;
mod reload;
mod signal;
mod sleep;
mod snapshot;
mod traffic;
mod upstream;
mod wait_until;
mod websocket;

use super::model::Scenario;
use super::runner::Runner;
use async_trait::async_trait;

/// A problem found when loading: the field below the step (empty for the
/// step itself) and what is wrong.
pub type Problem = (String, String);

/// What every step kind provides.
#[async_trait]
pub trait StepKind: Send + Sync {
    /// One line for the report, e.g. `traffic 200 x GET / (concurrency 8)`.
    fn describe(&self) -> String;

    /// Checks that need the rest of the scenario (or cannot be expressed in
    /// the serde model), run when the file is loaded.
    fn check(&self, _scenario: &Scenario) -> Result<(), Problem> {
        Ok(())
    }

    /// Runs the step; the text is a short detail for the report.
    async fn run(&self, runner: &mut Runner) -> Result<String, String>;
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
