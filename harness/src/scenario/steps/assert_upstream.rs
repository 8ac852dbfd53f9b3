//! `assert_upstream`: check a mock's totals since the scenario started.

use super::kind::{Problem, StepKind};
use crate::scenario::context::RunContext;
use crate::scenario::mock::{BehaviourSpec, Upstreams};
use async_trait::async_trait;
use serde::Deserialize;

/// Checks on one mock's totals since the scenario started.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssertUpstreamStep {
    /// Which mock.
    pub name: String,
    /// Requests it served in total (health checks excluded), exactly.
    #[serde(default)]
    pub hits: Option<u64>,
    /// Non-empty request bodies it received complete, exactly (a
    /// behaviour that reads bodies: `echo`).
    #[serde(default)]
    pub complete_bodies: Option<u64>,
    /// The most requests it was answering at once (from the request head
    /// to the response head), exactly.
    #[serde(default)]
    pub peak_in_flight: Option<u64>,
}

#[async_trait]
impl StepKind for AssertUpstreamStep {
    fn describe(&self) -> String {
        let mut what = Vec::new();
        if let Some(h) = self.hits {
            what.push(format!("hits == {h}"));
        }
        if let Some(b) = self.complete_bodies {
            what.push(format!("complete_bodies == {b}"));
        }
        if let Some(p) = self.peak_in_flight {
            what.push(format!("peak in flight == {p}"));
        }
        format!("assert_upstream {}: {}", self.name, what.join(", "))
    }

    fn check(&self, upstreams: &Upstreams) -> Result<(), Problem> {
        let Some(upstream) = upstreams.get(&self.name) else {
            return Err(("name".into(), format!("unknown upstream `{}`", self.name)));
        };
        if self.hits.is_none() && self.complete_bodies.is_none() && self.peak_in_flight.is_none() {
            return Err((
                String::new(),
                "nothing to check; give `hits`, `complete_bodies` or `peak_in_flight`".into(),
            ));
        }
        if self.complete_bodies.is_some() && !matches!(upstream.behaviour, BehaviourSpec::Echo {}) {
            return Err((
                "complete_bodies".into(),
                format!(
                    "upstream `{}` does not read request bodies; complete_bodies needs behaviour `echo`",
                    self.name
                ),
            ));
        }
        Ok(())
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<String, String> {
        let mock = ctx
            .mocks
            .get(&self.name)
            .ok_or_else(|| format!("unknown upstream `{}`", self.name))?;
        let (hits, peak, bodies) = (mock.hits(), mock.peak_in_flight(), mock.complete_bodies());
        let mut problems = Vec::new();
        if let Some(want) = self.hits.filter(|w| *w != hits) {
            problems.push(format!(
                "upstream {} served {hits} requests, expected {want}",
                self.name
            ));
        }
        if let Some(want) = self.peak_in_flight.filter(|w| *w != peak) {
            problems.push(format!(
                "upstream {} answered at most {peak} requests at once, expected {want}",
                self.name
            ));
        }
        if let Some(want) = self.complete_bodies.filter(|w| *w != bodies) {
            problems.push(format!(
                "upstream {} received {bodies} complete request bodies, expected {want}",
                self.name
            ));
        }
        if problems.is_empty() {
            Ok(format!(
                "{hits} hits, peak in flight {peak}, {bodies} complete bodies"
            ))
        } else {
            Err(problems.join("\n"))
        }
    }
}
