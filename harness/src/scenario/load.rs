//! Reading and checking a scenario file, with errors that name the file,
//! the step and the field.

use super::model::Scenario;
use crate::binary::workspace_root;
use std::fmt;
use std::path::{Path, PathBuf};

/// A scenario file that cannot be used.
#[derive(Debug, Clone)]
pub struct ScenarioError {
    /// The file.
    pub file: String,
    /// Where: `steps[3].traffic.expect`, empty for the whole file.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.location.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.location, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

/// `scenarios/NAME.yaml` under the workspace root.
pub fn scenario_path(name: &str) -> PathBuf {
    workspace_root()
        .join("scenarios")
        .join(format!("{name}.yaml"))
}

/// Parses and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let err = |location: String, message: String| ScenarioError {
        file: file.clone(),
        location,
        message,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(String::new(), format!("cannot read: {e}")))?;
    let de = serde_yaml::Deserializer::from_str(&text);
    let scenario: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
        let location = e.path().to_string();
        let location = if location == "." {
            String::new()
        } else {
            location
        };
        // serde_yaml prefixes its own (shorter) path; keep only the full one.
        let message = e.into_inner().to_string();
        let message = match message.split_once(": ") {
            Some((prefix, rest)) if !prefix.contains(' ') && location.starts_with(prefix) => {
                rest.to_string()
            }
            _ => message,
        };
        err(location, message)
    })?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if scenario.name != stem {
        return Err(err(
            "name".into(),
            format!("`{}` must match the file name `{stem}`", scenario.name),
        ));
    }
    for (i, step) in scenario.steps.iter().enumerate() {
        if let Err((field, message)) = step.kind().check(&scenario.upstreams) {
            let location = match field.as_str() {
                "" => format!("steps[{i}].{}", step.name()),
                field => format!("steps[{i}].{}.{field}", step.name()),
            };
            return Err(err(location, message));
        }
    }
    let config = workspace_root().join(&scenario.gateway.config);
    if !config.exists() {
        return Err(err(
            "gateway.config".into(),
            format!("`{}` does not exist", config.display()),
        ));
    }
    Ok(scenario)
}
