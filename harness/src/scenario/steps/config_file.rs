//! `config_file`: rewrite the gateway's config file from a template,
//! without telling the gateway (no reload, no signal): for stories where
//! the gateway notices by itself (`gateway.config_watch`).

use super::kind::StepKind;
use crate::binary::workspace_root;
use crate::scenario::context::RunContext;
use async_trait::async_trait;
use serde::Deserialize;

/// Replace the config file the gateway started with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFileStep {
    /// New template (relative to the workspace root), rendered with the
    /// run's values and written atomically (beside the file, then renamed
    /// over it).
    pub write: String,
}

#[async_trait]
impl StepKind for ConfigFileStep {
    fn describe(&self) -> String {
        format!("config_file write {}", self.write)
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<String, String> {
        let path = &self.write;
        let text = std::fs::read_to_string(workspace_root().join(path))
            .map_err(|e| format!("{path}: {e}"))?;
        ctx.gateway.rewrite_config(&text)?;
        Ok(String::new())
    }
}
