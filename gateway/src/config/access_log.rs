//! `gateway.access_log`: `off`, or the format, destination and buffering of
//! the per-request access log.

use super::values::{ByteSize, HumanDuration};
use serde::de::{self, value::MapAccessDeserializer, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// `gateway.access_log`: `off`, or a map of [`AccessLogConfig`] keys.
#[derive(Debug, Clone, PartialEq)]
pub enum AccessLogSetting {
    /// No access log.
    Off,
    /// One line per request.
    On(AccessLogConfig),
}

impl Default for AccessLogSetting {
    fn default() -> Self {
        AccessLogSetting::On(AccessLogConfig::default())
    }
}

/// Line format of the access log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLogFormat {
    /// `key=value` pairs, quoted values escaped.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Where and how access-log lines are written.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogConfig {
    /// Line format.
    #[serde(default)]
    pub format: AccessLogFormat,
    /// File appended to, relative to the config file (stderr when absent).
    #[serde(default)]
    pub path: Option<String>,
    /// Lines collected in memory before a background write (0: one write
    /// per line, still off the request path).
    #[serde(default = "default_buffer")]
    pub buffer: ByteSize,
    /// Longest time a line waits in the buffer.
    #[serde(default = "default_flush_interval")]
    pub flush_interval: HumanDuration,
}

impl Default for AccessLogConfig {
    fn default() -> Self {
        AccessLogConfig {
            format: AccessLogFormat::default(),
            path: None,
            buffer: default_buffer(),
            flush_interval: default_flush_interval(),
        }
    }
}

/// Upper bound of `gateway.access_log.buffer`.
pub const MAX_ACCESS_LOG_BUFFER: u64 = 16 * 1024 * 1024;

fn default_buffer() -> ByteSize {
    ByteSize(64 * 1024)
}

fn default_flush_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}

const EXPECTING: &str = "`off` or a map with format, path, buffer, flush_interval";

impl<'de> Deserialize<'de> for AccessLogSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SettingVisitor;
        impl<'de> Visitor<'de> for SettingVisitor {
            type Value = AccessLogSetting;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTING)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AccessLogSetting, E> {
                match v {
                    "off" => Ok(AccessLogSetting::Off),
                    other => Err(E::custom(format!("`{other}`: expected {EXPECTING}"))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AccessLogSetting, A::Error> {
                AccessLogConfig::deserialize(MapAccessDeserializer::new(map))
                    .map(AccessLogSetting::On)
            }
        }
        d.deserialize_any(SettingVisitor)
    }
}

impl Serialize for AccessLogSetting {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AccessLogSetting::Off => s.serialize_str("off"),
            AccessLogSetting::On(c) => c.serialize(s),
        }
    }
}

/// The first problem in `gateway.access_log`, as (key path, message).
pub(super) fn validate_access_log(setting: &AccessLogSetting) -> Result<(), (String, String)> {
    let AccessLogSetting::On(c) = setting else {
        return Ok(());
    };
    let path = |key: &str| format!("gateway.access_log.{key}");
    if c.path.as_deref().is_some_and(|p| p.trim().is_empty()) {
        return Err((
            path("path"),
            "expected a file path (leave it out for stderr)".into(),
        ));
    }
    if c.buffer.0 > MAX_ACCESS_LOG_BUFFER {
        return Err((
            path("buffer"),
            format!(
                "{} is too large; expected 0 to {MAX_ACCESS_LOG_BUFFER} (16MiB)",
                c.buffer
            ),
        ));
    }
    if c.flush_interval.0.is_zero() {
        return Err((
            path("flush_interval"),
            "expected a duration above zero".into(),
        ));
    }
    Ok(())
}
