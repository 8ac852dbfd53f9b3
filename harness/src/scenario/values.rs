//! Values written the same way all over a scenario file: durations
//! (`500ms`, `2s`), request rates (`30/s`), and the defaults that several
//! steps share.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A request rate written `30/s`, `600/min` or `3600/h`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestRate {
    /// Requests per second.
    pub per_second: f64,
}

impl fmt::Display for RequestRate {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/s", self.per_second)
    }
}

impl<'de> Deserialize<'de> for RequestRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let bad = || de::Error::custom(format!("`{s}` is not a rate such as `30/s` or `600/min`"));
        let (count, unit) = s.split_once('/').ok_or_else(bad)?;
        let count: f64 = count.trim().parse().map_err(|_| bad())?;
        let seconds = match unit.trim() {
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        if !(count.is_finite() && count > 0.0) {
            return Err(bad());
        }
        Ok(RequestRate {
            per_second: count / seconds,
        })
    }
}

/// A duration such as `500ms` or `2s` (`deserialize_with`).
pub(super) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let Text(s) = Text::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        de::Error::custom(format!(
            "`{s}` is not a duration such as `500ms` or `2s` ({e})"
        ))
    })
}

/// [`duration`] for an optional key (with `#[serde(default)]`).
pub(super) fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// Request path: `/`.
pub(super) fn default_path() -> String {
    "/".into()
}

/// Which `${port.NAME}` listener: `proxy`.
pub(super) fn default_listener() -> String {
    "proxy".into()
}

/// Requests (or calls) in flight at once: 1.
pub(super) fn default_concurrency() -> usize {
    1
}

/// Per-request (or per-call) timeout: 10 s.
pub(super) fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Name of background load: `background`.
pub(super) fn default_background() -> String {
    "background".into()
}

/// Text as a YAML reader gives it to a string field: a bare number or
/// boolean (`body: 42`, `x-retries: 3`) is its text. Values that serde
/// buffers before reading them (a mock behaviour's keys) arrive as numbers,
/// so the behaviours' text keys read through this.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "text")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(TextVisitor)
    }
}

/// A text key (`deserialize_with`; see [`Text`]).
pub(super) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Text::deserialize(d).map(|Text(s)| s)
}

/// An optional text key (with `#[serde(default)]`; see [`Text`]).
pub(super) fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    text(d).map(Some)
}

/// A map of text to text, such as headers (see [`Text`]).
pub(super) fn text_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let map = BTreeMap::<Text, Text>::deserialize(d)?;
    Ok(map.into_iter().map(|(Text(k), Text(v))| (k, v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Keys {
        #[serde(deserialize_with = "text")]
        body: String,
        #[serde(deserialize_with = "text_map")]
        headers: BTreeMap<String, String>,
        #[serde(deserialize_with = "duration")]
        delay: Duration,
    }

    #[test]
    fn bare_numbers_and_booleans_are_text_even_when_buffered() {
        let yaml = "{ body: 42, headers: { x-n: 3, 7: true }, delay: 2s }";
        let direct: Keys = serde_yaml::from_str(yaml).expect("keys");
        let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
        let buffered = Keys::deserialize(value).expect("keys");
        for keys in [direct, buffered] {
            assert_eq!(keys.body, "42");
            assert_eq!(keys.headers["x-n"], "3");
            assert_eq!(keys.headers["7"], "true");
            assert_eq!(keys.delay, Duration::from_secs(2));
        }
    }
}
