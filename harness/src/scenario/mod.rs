//! Scenario files: a fault story replayed against the real gateway and
//! in-process mock upstreams, checked by counts and a metrics snapshot.
//!
//! `model` is the file as a whole, `mock` its mock upstreams, `steps` one
//! module per step kind (its keys and how it runs), `expect` the checks on
//! a batch of responses; `load` reads and checks a file, `runner` runs it
//! against a [`RunContext`].

mod context;
mod expect;
mod ledger;
mod load;
mod mock;
mod model;
mod runner;
mod selector;
mod snapshot;
mod steps;
mod values;

pub use context::RunContext;
pub use expect::{Expect, RateBound, SuccessBound};
pub use load::{load, scenario_path, ScenarioError};
pub use mock::{BehaviourSpec, UpstreamSpec, Upstreams};
pub use model::{GatewaySpec, Scenario};
pub use runner::{run, Report};
pub use snapshot::normalise;
pub use steps::*;
pub use values::RequestRate;
