//! What every step kind provides: a report label, the checks that need more
//! than the step's own keys (run when the file is loaded), and the step
//! itself, run against the [`RunContext`].

use crate::scenario::context::RunContext;
use crate::scenario::mock::Upstreams;
use async_trait::async_trait;

/// A problem found when loading: the field below the step (empty for the
/// step itself) and what is wrong.
pub type Problem = (String, String);

/// What every step kind provides.
#[async_trait]
pub trait StepKind: Send + Sync {
    /// One line for the report, e.g. `traffic 200 x GET / (concurrency 8)`.
    fn describe(&self) -> String;

    /// Checks that need the scenario's mock upstreams (or cannot be
    /// expressed in the serde model), run when the file is loaded.
    fn check(&self, _upstreams: &Upstreams) -> Result<(), Problem> {
        Ok(())
    }

    /// Runs the step; the text is a short detail for the report.
    async fn run(&self, ctx: &mut RunContext) -> Result<String, String>;
}
