//! The scenario file as a whole (YAML): its name, mock upstreams, gateway
//! and steps. Every struct refuses unknown keys so a typo fails loudly; the
//! mock behaviours are in `mock.rs`, each step kind's keys in
//! `steps/KIND.rs`, and docs/SCENARIOS.md is the reference.

use super::mock::Upstreams;
use super::steps::Step;
use serde::Deserialize;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name; must match the file name.
    pub name: String,
    /// What the story proves.
    #[serde(default)]
    pub description: String,
    /// Seed for everything random (flap schedules); `SCENARIO_SEED` overrides.
    #[serde(default)]
    pub seed: u64,
    /// Mock upstreams by name.
    #[serde(default)]
    pub upstreams: Upstreams,
    /// The gateway under test.
    pub gateway: GatewaySpec,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

/// The gateway's config template.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySpec {
    /// Template path, relative to the workspace root.
    pub config: String,
}
