//! Mock upstreams in a scenario file: the `upstreams:` section and the
//! `behaviour:` an `upstream` step switches a mock to.
//!
//! A behaviour is written `{ behaviour: NAME, KEY: VALUE, ... }`. Each one is
//! a variant of [`BehaviourSpec`] holding exactly the keys it reads, so a key
//! of another behaviour, a missing required key or an unknown behaviour is
//! refused when the file is loaded, with the behaviour named in the message.
//! Adding a behaviour is a variant, its name in [`BehaviourSpec::ALL`] (the
//! unit tests hold it to serde's names), an arm in each exhaustive `match`,
//! and a row in docs/SCENARIOS.md (`tests/scenario_docs.rs` checks it).

use super::values::{duration, opt_duration, opt_text, text, text_map};
use crate::certs::TestCerts;
use crate::upstream::{
    Behaviour, BodyMismatch, Cacheable, ChunkedTruncated, Echo, Fixed, GrpcEcho, H2cOnly, Mtls,
    Reset, ResetBody, Slow, StallBody, WebSocketEcho,
};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The mock upstreams of a scenario, by name.
pub type Upstreams = BTreeMap<String, UpstreamSpec>;

/// A mock upstream: how it answers and how it starts. Written as one map:
/// the behaviour's keys beside `down` and `unix`.
#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    /// How it answers.
    pub behaviour: BehaviourSpec,
    /// Start down (connection refused) instead of up.
    pub down: bool,
    /// Listen on a Unix socket in the run's temp dir: `${upstream.NAME}`
    /// is then `unix:/...`.
    pub unix: bool,
}

/// How a mock answers: `behaviour: NAME` and that behaviour's keys.
///
/// The variants are read by serde's derived code for an internally tagged
/// enum (`remote = "Self"` makes it the inherent `BehaviourSpec::deserialize`);
/// the `Deserialize` impl below checks the name first and puts it into every
/// message. Behaviours without keys are empty struct variants, never unit
/// variants: serde lets a unit variant of a tagged enum ignore any key. Text
/// keys read a bare number or boolean as its text (`headers: { x-n: 3 }`),
/// as a string field read straight from YAML does.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    remote = "Self",
    tag = "behaviour",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum BehaviourSpec {
    /// Fixed status and body.
    Fixed {
        /// Response status.
        #[serde(default = "status_ok")]
        status: u16,
        /// Response body (default: the upstream's name).
        #[serde(default, deserialize_with = "opt_text")]
        body: Option<String>,
        /// Extra response headers.
        #[serde(default, deserialize_with = "text_map")]
        headers: BTreeMap<String, String>,
    },
    /// JSON description of the request.
    Echo {},
    /// Delay, then a fixed response.
    Slow {
        /// How long before the response.
        #[serde(deserialize_with = "duration")]
        delay: Duration,
        /// Response status.
        #[serde(default = "status_ok")]
        status: u16,
        /// Response body (default: the upstream's name).
        #[serde(default, deserialize_with = "opt_text")]
        body: Option<String>,
        /// Extra response headers.
        #[serde(default, deserialize_with = "text_map")]
        headers: BTreeMap<String, String>,
    },
    /// Headers and part of the body, then a stall.
    StallBody {
        /// The part of the body sent before the stall (default: the
        /// upstream's name).
        #[serde(default, deserialize_with = "opt_text")]
        body: Option<String>,
        /// Content-Length announced.
        #[serde(default = "stall_declared_length")]
        declared_length: usize,
        /// How long it stalls.
        #[serde(deserialize_with = "duration")]
        delay: Duration,
    },
    /// Accept, then RST.
    Reset {},
    /// Content-Length larger than the body, part of the body, then RST.
    ResetBody {
        /// The body sent (default: the upstream's name).
        #[serde(default, deserialize_with = "opt_text")]
        body: Option<String>,
        /// Content-Length announced (default: the body's length + 100).
        #[serde(default)]
        declared_length: Option<usize>,
        /// Extra response headers.
        #[serde(default, deserialize_with = "text_map")]
        headers: BTreeMap<String, String>,
    },
    /// Content-Length larger than the body, then close.
    BodyMismatch {
        /// The body sent (default: the upstream's name).
        #[serde(default, deserialize_with = "opt_text")]
        body: Option<String>,
        /// Content-Length announced (default: the body's length + 100).
        #[serde(default)]
        declared_length: Option<usize>,
    },
    /// Chunked body that breaks off: no terminating chunk, then close.
    ChunkedTruncated {
        /// The body sent (default: the upstream's name).
        #[serde(default, deserialize_with = "opt_text")]
        body: Option<String>,
        /// How many chunks it is sent as.
        #[serde(default = "one_chunk")]
        chunks: usize,
    },
    /// HTTP/2 prior knowledge only.
    H2c {
        /// Response status.
        #[serde(default = "status_ok")]
        status: u16,
        /// Response body (default: the upstream's name).
        #[serde(default, deserialize_with = "opt_text")]
        body: Option<String>,
        /// Extra response headers.
        #[serde(default, deserialize_with = "text_map")]
        headers: BTreeMap<String, String>,
    },
    /// TLS requiring a client certificate from the test CA.
    Mtls {
        /// Response status.
        #[serde(default = "status_ok")]
        status: u16,
        /// Response body (default: the upstream's name).
        #[serde(default, deserialize_with = "opt_text")]
        body: Option<String>,
        /// Extra response headers.
        #[serde(default, deserialize_with = "text_map")]
        headers: BTreeMap<String, String>,
    },
    /// Versioned cacheable resource with validators.
    Cacheable {
        /// Cache-Control of every full response.
        #[serde(default = "default_cache_control", deserialize_with = "text")]
        cache_control: String,
        /// Status of full responses.
        #[serde(default = "status_ok")]
        status: u16,
        /// Extra response headers.
        #[serde(default, deserialize_with = "text_map")]
        headers: BTreeMap<String, String>,
        /// How long before each response.
        #[serde(default, deserialize_with = "opt_duration")]
        delay: Option<Duration>,
        /// Park every request until an `upstream` step releases them.
        #[serde(default)]
        hold: bool,
    },
    /// WebSocket echo (every text and binary message sent back).
    Websocket {},
    /// gRPC echo service (unary and server streaming) over h2c.
    Grpc {},
}

fn status_ok() -> u16 {
    200
}
fn stall_declared_length() -> usize {
    1024
}
fn one_chunk() -> usize {
    1
}
fn default_cache_control() -> String {
    "max-age=60".into()
}

impl BehaviourSpec {
    /// Every behaviour as written after `behaviour:`, in declaration order.
    pub const ALL: &'static [&'static str] = &[
        "fixed",
        "echo",
        "slow",
        "stall_body",
        "reset",
        "reset_body",
        "body_mismatch",
        "chunked_truncated",
        "h2c",
        "mtls",
        "cacheable",
        "websocket",
        "grpc",
    ];

    /// This behaviour's name as written after `behaviour:`.
    pub fn name(&self) -> &'static str {
        match self {
            BehaviourSpec::Fixed { .. } => "fixed",
            BehaviourSpec::Echo {} => "echo",
            BehaviourSpec::Slow { .. } => "slow",
            BehaviourSpec::StallBody { .. } => "stall_body",
            BehaviourSpec::Reset {} => "reset",
            BehaviourSpec::ResetBody { .. } => "reset_body",
            BehaviourSpec::BodyMismatch { .. } => "body_mismatch",
            BehaviourSpec::ChunkedTruncated { .. } => "chunked_truncated",
            BehaviourSpec::H2c { .. } => "h2c",
            BehaviourSpec::Mtls { .. } => "mtls",
            BehaviourSpec::Cacheable { .. } => "cacheable",
            BehaviourSpec::Websocket {} => "websocket",
            BehaviourSpec::Grpc {} => "grpc",
        }
    }

    /// The body a mock of this behaviour named `name` sends, for behaviours
    /// with one fixed body (what `body_prefix_only` compares with).
    pub fn fixed_body(&self, name: &str) -> Option<Vec<u8>> {
        match self {
            BehaviourSpec::Fixed { body, .. }
            | BehaviourSpec::Slow { body, .. }
            | BehaviourSpec::BodyMismatch { body, .. }
            | BehaviourSpec::ResetBody { body, .. }
            | BehaviourSpec::ChunkedTruncated { body, .. }
            | BehaviourSpec::H2c { body, .. }
            | BehaviourSpec::Mtls { body, .. } => Some(body_or_name(body, name).into_bytes()),
            BehaviourSpec::Echo {}
            | BehaviourSpec::StallBody { .. }
            | BehaviourSpec::Reset {}
            | BehaviourSpec::Cacheable { .. }
            | BehaviourSpec::Websocket {}
            | BehaviourSpec::Grpc {} => None,
        }
    }

    /// The behaviour of a mock named `name` (the default body); `mtls`
    /// serves with the test certificates.
    pub fn build(&self, name: &str, certs: &TestCerts) -> Arc<dyn Behaviour> {
        let fixed = |status: &u16, body: &Option<String>, headers: &BTreeMap<String, String>| {
            Arc::new(Fixed {
                status: *status,
                headers: header_list(headers),
                body: body_or_name(body, name),
            }) as Arc<dyn Behaviour>
        };
        match self {
            BehaviourSpec::Fixed {
                status,
                body,
                headers,
            } => fixed(status, body, headers),
            BehaviourSpec::Echo {} => Arc::new(Echo),
            BehaviourSpec::Slow {
                delay,
                status,
                body,
                headers,
            } => Arc::new(Slow {
                delay: *delay,
                then: fixed(status, body, headers),
            }),
            BehaviourSpec::StallBody {
                body,
                declared_length,
                delay,
            } => Arc::new(StallBody {
                first: body_or_name(body, name),
                rest: *declared_length,
                stall: *delay,
            }),
            BehaviourSpec::Reset {} => Arc::new(Reset),
            BehaviourSpec::ResetBody {
                body,
                declared_length,
                headers,
            } => {
                let body = body_or_name(body, name);
                Arc::new(ResetBody {
                    declared: declared_length.unwrap_or(body.len() + 100),
                    body,
                    headers: header_list(headers),
                })
            }
            BehaviourSpec::BodyMismatch {
                body,
                declared_length,
            } => {
                let body = body_or_name(body, name);
                Arc::new(BodyMismatch {
                    declared: declared_length.unwrap_or(body.len() + 100),
                    body,
                })
            }
            BehaviourSpec::ChunkedTruncated { body, chunks } => Arc::new(ChunkedTruncated {
                body: body_or_name(body, name),
                chunks: *chunks,
            }),
            BehaviourSpec::H2c {
                status,
                body,
                headers,
            } => Arc::new(H2cOnly {
                inner: fixed(status, body, headers),
            }),
            BehaviourSpec::Mtls {
                status,
                body,
                headers,
            } => Arc::new(Mtls::new(certs, fixed(status, body, headers))),
            BehaviourSpec::Cacheable {
                cache_control,
                status,
                headers,
                delay,
                hold,
            } => {
                let mut c = Cacheable::new(cache_control);
                c.status = *status;
                c.headers = header_list(headers);
                c.delay = *delay;
                Arc::new(if *hold { c.hold() } else { c })
            }
            BehaviourSpec::Websocket {} => Arc::new(WebSocketEcho),
            BehaviourSpec::Grpc {} => Arc::new(GrpcEcho),
        }
    }
}

/// `body`, or the upstream's name where none is given.
fn body_or_name(body: &Option<String>, name: &str) -> String {
    body.clone().unwrap_or_else(|| name.to_string())
}

fn header_list(headers: &BTreeMap<String, String>) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl<'de> Deserialize<'de> for BehaviourSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(SpecVisitor { mock_keys: false })
            .map(|spec| spec.behaviour)
    }
}

impl<'de> Deserialize<'de> for UpstreamSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(SpecVisitor { mock_keys: true })
    }
}

/// Reads `{ behaviour: NAME, ... }`: the name first checked against
/// [`BehaviourSpec::ALL`] (so an unknown one is reported at its key), `down`
/// and `unix` taken aside where `mock_keys` allows them (in `upstreams:`,
/// not in a step), and the other keys handed to the derived code, whose
/// errors are prefixed with the behaviour's name.
struct SpecVisitor {
    mock_keys: bool,
}

impl<'de> Visitor<'de> for SpecVisitor {
    type Value = UpstreamSpec;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "a map with `behaviour` ({}) and its keys",
            BehaviourSpec::ALL.join(", ")
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UpstreamSpec, A::Error> {
        let (mut kind, mut down, mut unix) = (None, false, false);
        let mut seen = BTreeSet::new();
        let mut rest = Mapping::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate field `{key}`")));
            }
            match key.as_str() {
                "behaviour" => kind = Some(map.next_value::<KnownBehaviour>()?.0),
                "down" if self.mock_keys => down = map.next_value()?,
                "unix" if self.mock_keys => unix = map.next_value()?,
                _ => {
                    rest.insert(key.into(), map.next_value::<Value>()?);
                }
            }
        }
        let Some(kind) = kind else {
            return Err(de::Error::custom(format!(
                "no `behaviour`; a behaviour is one of {}",
                BehaviourSpec::ALL.join(", ")
            )));
        };
        rest.insert("behaviour".into(), kind.into());
        // The derived code (inherent through `remote = "Self"`).
        let behaviour = BehaviourSpec::deserialize(Value::Mapping(rest))
            .map_err(|e| de::Error::custom(format!("behaviour `{kind}`: {e}")))?;
        Ok(UpstreamSpec {
            behaviour,
            down,
            unix,
        })
    }
}

/// A name in [`BehaviourSpec::ALL`].
struct KnownBehaviour(&'static str);

impl<'de> Deserialize<'de> for KnownBehaviour {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        match BehaviourSpec::ALL.iter().find(|known| **known == name) {
            Some(known) => Ok(KnownBehaviour(known)),
            None => Err(de::Error::custom(format!(
                "unknown behaviour `{name}`; a behaviour is one of {}",
                BehaviourSpec::ALL.join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The derived code's own message for an unknown behaviour lists every
    /// variant by its serde name.
    fn serde_names() -> Vec<String> {
        let unknown = serde_yaml::from_str::<Value>("behaviour: '?'").expect("yaml");
        let message = BehaviourSpec::deserialize(unknown)
            .expect_err("`?` is no behaviour")
            .to_string();
        let (_, list) = message
            .split_once("expected one of ")
            .unwrap_or_else(|| panic!("no variant list in: {message}"));
        list.split(", ")
            .map(|name| name.trim_matches('`').to_string())
            .collect()
    }

    #[test]
    fn all_lists_every_variant_by_its_serde_name_in_order() {
        assert_eq!(serde_names(), BehaviourSpec::ALL);
    }

    #[test]
    fn each_name_reads_back_as_its_variant() {
        for name in BehaviourSpec::ALL {
            // `slow` and `stall_body` require `delay`; the others refuse it.
            let needs_delay = ["slow", "stall_body"].contains(name);
            let yaml = if needs_delay {
                format!("{{ behaviour: {name}, delay: 1s }}")
            } else {
                format!("{{ behaviour: {name} }}")
            };
            let spec: BehaviourSpec =
                serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            assert_eq!(spec.name(), *name);
        }
    }

    #[test]
    fn defaults_are_those_of_the_mocks() {
        let spec: UpstreamSpec =
            serde_yaml::from_str("{ behaviour: body_mismatch, down: true }").expect("spec");
        assert!(spec.down && !spec.unix);
        assert_eq!(spec.behaviour.fixed_body("liar"), Some(b"liar".to_vec()));
        let spec: BehaviourSpec =
            serde_yaml::from_str("{ behaviour: stall_body, delay: 2s }").expect("spec");
        assert!(matches!(
            spec,
            BehaviourSpec::StallBody {
                declared_length: 1024,
                ..
            }
        ));
        assert_eq!(spec.fixed_body("origin"), None);
    }
}
