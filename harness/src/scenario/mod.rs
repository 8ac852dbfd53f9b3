//! Scenario files: a fault story replayed against the real gateway and
//! in-process mock upstreams, checked by counts and a metrics snapshot.

mod expect;
mod ledger;
mod load;
mod model;
mod runner;
mod selector;
mod snapshot;
mod steps;

pub use load::{load, scenario_path, ScenarioError};
pub use model::*;
pub use runner::{run, Report, Runner};
pub use snapshot::normalise;
pub use steps::StepKind;
