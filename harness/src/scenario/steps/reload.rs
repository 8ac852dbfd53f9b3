//! `reload`: rewrite the config from a template and `POST /config/reload`.

use super::StepKind;
use crate::binary::workspace_root;
use crate::scenario::model::{ReloadResult, ReloadStep};
use crate::scenario::runner::Runner;
use async_trait::async_trait;

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

    async fn run(&self, runner: &mut Runner) -> Result<String, String> {
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(workspace_root().join(path))
                .map_err(|e| format!("{path}: {e}"))?;
            runner.gateway.rewrite_config(&text)?;
        }
        let (status, body) = runner.gateway.reload().await?;
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
