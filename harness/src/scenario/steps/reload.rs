//! `reload`: rewrite the config from a template and `POST /config/reload`.

use super::kind::StepKind;
use crate::binary::workspace_root;
use crate::scenario::context::RunContext;
use async_trait::async_trait;
use serde::Deserialize;

/// Reload through `POST /config/reload`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadStep {
    /// New template to write first (relative to the workspace root).
    #[serde(default)]
    pub config: Option<String>,
    /// `accepted` or `rejected`.
    pub expect: ReloadResult,
    /// Text the rejection message must contain.
    #[serde(default)]
    pub error_contains: Option<String>,
}

/// Reload outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadResult {
    /// Applied.
    Accepted,
    /// Refused; the old config keeps serving.
    Rejected,
}

#[async_trait]
impl StepKind for ReloadStep {
    fn describe(&self) -> String {
        format!(
            "reload {} (expect {:?})",
            self.config.as_deref().unwrap_or("same file"),
            self.expect
        )
        .to_lowercase()
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<String, String> {
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(workspace_root().join(path))
                .map_err(|e| format!("{path}: {e}"))?;
            ctx.gateway.rewrite_config(&text)?;
        }
        let (status, body) = ctx.gateway.reload().await?;
        let accepted = status == 200;
        match (self.expect, accepted) {
            (ReloadResult::Accepted, true) => Ok(format!("generation {}", body["generation"])),
            (ReloadResult::Rejected, false) => {
                let error = body["error"].as_str().unwrap_or_default().to_string();
                match &self.error_contains {
                    Some(needle) if !error.contains(needle.as_str()) => Err(format!(
                        "rejected, but the message lacks `{needle}`: {error}"
                    )),
                    _ => Ok(format!("rejected: {error}")),
                }
            }
            (want, _) => Err(format!("expected {want:?}, got HTTP {status}: {body}")),
        }
    }
}
