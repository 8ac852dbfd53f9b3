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
        let kinds = [
            ("traffic", step.traffic.is_some()),
            ("background_traffic", step.background_traffic.is_some()),
            ("join", step.join.is_some()),
            ("upstream", step.upstream.is_some()),
            ("signal", step.signal.is_some()),
            ("reload", step.reload.is_some()),
            ("wait_until", step.wait_until.is_some()),
            ("sleep", step.sleep.is_some()),
            ("assert_metric", step.assert_metric.is_some()),
            ("snapshot", step.snapshot.is_some()),
            ("exit", step.exit.is_some()),
        ];
        let set: Vec<&str> = kinds
            .iter()
            .filter(|(_, on)| *on)
            .map(|(k, _)| *k)
            .collect();
        if set.len() != 1 {
            let all: Vec<&str> = kinds.iter().map(|(k, _)| *k).collect();
            return Err(err(
                format!("steps[{i}]"),
                format!(
                    "a step has exactly one of {}; found {set:?}",
                    all.join(", ")
                ),
            ));
        }
        if let Some(t) = &step.traffic {
            if t.requests.is_none() {
                return Err(err(
                    format!("steps[{i}].traffic.requests"),
                    "a traffic step needs a request count".into(),
                ));
            }
        }
        if let Some(j) = &step.join {
            if !j.expect.upstream_hits.is_empty() {
                return Err(err(
                    format!("steps[{i}].join.expect.upstream_hits"),
                    "mock hits cannot be attributed to background load; use served_by".into(),
                ));
            }
        }
        if let Some(u) = &step.upstream {
            if !scenario.upstreams.contains_key(&u.name) {
                return Err(err(
                    format!("steps[{i}].upstream.name"),
                    format!("unknown upstream `{}`", u.name),
                ));
            }
        }
        if let Some(w) = &step.wait_until {
            let conditions = [
                w.metric.is_some(),
                w.upstream.is_some(),
                w.background.is_some(),
            ];
            if conditions.iter().filter(|c| **c).count() != 1 {
                return Err(err(
                    format!("steps[{i}].wait_until"),
                    "wait for exactly one of `metric`, `upstream` or `background`".into(),
                ));
            }
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
