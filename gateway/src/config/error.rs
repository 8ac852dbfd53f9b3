//! Config errors that name the file, the key path and what was expected.

use std::fmt;

/// A config that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or `<embedded default>`).
    pub source: String,
    /// Where in the file: a key path such as `gateway.routes[2].cluster`, or
    /// a line and column for syntax errors; empty for whole-file problems.
    pub location: String,
    /// What was wrong and what was expected.
    pub message: String,
}

impl ConfigError {
    /// An error at a key path.
    pub fn at(source: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            source: source.to_string(),
            location: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.location.is_empty() {
            write!(f, "{}: {}", self.source, self.message)
        } else {
            write!(f, "{}: {}: {}", self.source, self.location, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}
