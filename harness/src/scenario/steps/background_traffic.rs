//! `background_traffic`: load that runs during later steps until `join`
//! (or its `max_time`), with the keys of `traffic`.

use super::kind::{Problem, StepKind};
use super::traffic::{check_body, traffic_spec, TrafficStep};
use crate::scenario::context::RunContext;
use crate::scenario::mock::Upstreams;
use crate::traffic::Background;
use async_trait::async_trait;
use serde::Deserialize;

/// Request cap of background load that gives none.
const BACKGROUND_CAP: usize = 100_000;

/// Background load: the keys of [`TrafficStep`], where `requests` is an
/// optional cap and `name` / `max_time` apply.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct BackgroundStep(pub TrafficStep);

#[async_trait]
impl StepKind for BackgroundStep {
    fn describe(&self) -> String {
        format!(
            "background_traffic `{}` {} {}",
            self.0.name, self.0.method, self.0.path
        )
    }

    fn check(&self, _upstreams: &Upstreams) -> Result<(), Problem> {
        check_body(&self.0)
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<String, String> {
        let b = &self.0;
        if ctx.backgrounds.contains_key(&b.name) {
            return Err(format!(
                "background traffic `{}` is already running",
                b.name
            ));
        }
        let spec = traffic_spec(ctx, b, b.requests.unwrap_or(BACKGROUND_CAP))?;
        ctx.backgrounds
            .insert(b.name.clone(), Background::start(spec, b.max_time));
        Ok(String::new())
    }
}
