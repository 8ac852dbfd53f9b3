//! The bottom layer, below every stage (no proxy phase calls it; the
//! control plane compiles it): typed YAML configuration, with loading,
//! `${VAR}` substitution, defaults and validation with key-path errors.
//!
//! [`load_file`] and [`load_embedded`] return a [`LoadedConfig`]: the parsed
//! model plus where it came from. Turning it into routing tables and
//! balancers is `crate::control::generation`'s job.

mod access_log;
pub mod auth;
pub mod cache;
mod env;
mod error;
pub mod fingerprint;
pub mod limits;
mod model;
pub mod runtime_dir;
pub mod security;
mod shutdown;
pub mod tls;
mod validate;
mod validate_downstream;
mod validate_security;
mod validate_tls;
mod validate_uds;
mod values;

pub use access_log::{AccessLogConfig, AccessLogFormat, AccessLogSetting, MAX_ACCESS_LOG_BUFFER};
pub use auth::RouteAuthConfig;
pub use cache::{CacheStorageConfig, Cidr, PurgeConfig, RouteCacheConfig};
pub use error::ConfigError;
pub use model::*;
pub use shutdown::{ShutdownConfig, MAX_DRAIN_DELAY};
pub use tls::{
    ClientAuthConfig, ClientAuthMode, ClientCertMatch, ListenerTlsConfig, SniCertConfig,
};
pub use validate_downstream::PINGORA_MAX_HEADER_BYTES;
pub use values::{Address, ByteSize, EndpointAddress, HashKey, HumanDuration, Rate, RetryOn};

use std::path::{Path, PathBuf};

/// The built-in config used when the gateway starts without `-c`.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.yaml");

/// The name used for the embedded config in messages.
pub const EMBEDDED_NAME: &str = "<embedded default config>";

/// Where a config came from, so it can be read again on reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A file on disk.
    File(PathBuf),
    /// [`EMBEDDED_DEFAULT`].
    Embedded,
}

impl ConfigSource {
    /// Name used in error messages.
    pub fn display_name(&self) -> String {
        match self {
            ConfigSource::File(p) => p.display().to_string(),
            ConfigSource::Embedded => EMBEDDED_NAME.to_string(),
        }
    }

    /// Directory that relative paths in the config are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        match self {
            ConfigSource::File(p) => p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            ConfigSource::Embedded => PathBuf::from("."),
        }
    }

    /// Reads and validates the config again.
    pub fn load(&self) -> Result<LoadedConfig, ConfigError> {
        match self {
            ConfigSource::File(p) => load_file(p),
            ConfigSource::Embedded => load_embedded(),
        }
    }
}

/// A validated config and its source.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The parsed, validated model.
    pub config: Config,
    /// Where it came from.
    pub source: ConfigSource,
}

/// Reads, substitutes, parses and validates a config file.
pub fn load_file(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let name = ConfigSource::File(path.to_path_buf()).display_name();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::at(&name, "", format!("cannot read the file: {e}")))?;
    load_text(path, &text)
}

/// Substitutes, parses and validates `text`, the content just read from the
/// config file `path` (which stays the source for later reloads).
pub fn load_text(path: &Path, text: &str) -> Result<LoadedConfig, ConfigError> {
    let source = ConfigSource::File(path.to_path_buf());
    let config = parse(text, &source.display_name(), &|k| std::env::var(k).ok())?;
    Ok(LoadedConfig { config, source })
}

/// Parses the embedded default config (`UPSTREAM_ADDR` picks its upstream).
pub fn load_embedded() -> Result<LoadedConfig, ConfigError> {
    let config = parse(EMBEDDED_DEFAULT, EMBEDDED_NAME, &|k| std::env::var(k).ok())?;
    Ok(LoadedConfig {
        config,
        source: ConfigSource::Embedded,
    })
}

/// Parses and validates config text. `name` is used in errors; `lookup`
/// resolves `${VAR}` references.
pub fn parse(
    text: &str,
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        let location = e
            .location()
            .map(|l| format!("line {}, column {}", l.line(), l.column()))
            .unwrap_or_default();
        ConfigError::at(name, location, format!("invalid YAML: {e}"))
    })?;
    if value.is_null() {
        return Err(ConfigError::at(name, "", "the config is empty"));
    }
    env::substitute(&mut value, lookup).map_err(|(path, msg)| ConfigError::at(name, path, msg))?;
    let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ConfigError::at(name, path, e.into_inner().to_string())
    })?;
    validate::validate(&config, name)?;
    Ok(config)
}
