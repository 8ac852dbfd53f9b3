//! The steps of a scenario: one module per step kind, holding the kind's
//! YAML struct and its [`StepKind`] implementation (a report label, the
//! checks run when the file is loaded, and the step itself). Adding a kind
//! is a module here, a line in the `step_kinds!` list below and a row in
//! docs/SCENARIOS.md (`tests/scenario_docs.rs` checks it).

mod assert_metric;
mod assert_upstream;
mod background_traffic;
mod config_file;
mod exit;
mod grpc;
mod join;
mod kind;
mod reload;
mod signal;
mod sleep;
mod snapshot;
mod traffic;
mod upstream;
mod wait_until;
mod websocket;

pub use assert_metric::MetricCheck;
pub use assert_upstream::AssertUpstreamStep;
pub use background_traffic::BackgroundStep;
pub use config_file::ConfigFileStep;
pub use exit::ExitStep;
pub use grpc::{GrpcCallKind, GrpcExpect, GrpcStep};
pub use join::JoinStep;
pub use kind::{Problem, StepKind};
pub use reload::{ReloadResult, ReloadStep};
pub use signal::{SignalKind, SignalStep};
pub use sleep::SleepStep;
pub use snapshot::SnapshotStep;
pub use traffic::{ClientCertChoice, ClientTlsSpec, TrafficStep};
pub use upstream::{FlapSpec, UpState, UpstreamStep};
pub use wait_until::WaitStep;
pub use websocket::{WebSocketExpect, WebSocketStep};

use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::fmt;

/// Declares [`Step`] from one line per kind: the variant, its YAML name and
/// its type (which implements [`StepKind`]). The enum, its kind names, its
/// dispatch and its deserialisation all come from that one list.
macro_rules! step_kinds {
    ($($(#[$doc:meta])* $variant:ident($ty:ty) = $name:literal,)*) => {
        /// One step: a single-key map naming its kind (`- traffic: {...}`).
        /// Each kind is one variant, so a step with no kind or two kinds
        /// cannot be represented.
        #[derive(Debug, Clone)]
        pub enum Step {
            $($(#[$doc])* $variant($ty),)*
        }

        /// Every step kind, as written in scenario files.
        pub const STEP_KINDS: &[&str] = &[$($name),*];

        impl Step {
            /// The step's kind as written in the file.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Step::$variant(_) => $name,)*
                }
            }

            /// The implementation of this step's kind.
            pub fn kind(&self) -> &dyn StepKind {
                match self {
                    $(Step::$variant(s) => s,)*
                }
            }
        }

        impl<'de> Deserialize<'de> for Step {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct StepVisitor;
                impl<'de> de::Visitor<'de> for StepVisitor {
                    type Value = Step;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        write!(f, "a map with one step kind ({})", STEP_KINDS.join(", "))
                    }
                    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
                        let Some(kind) = map.next_key::<String>()? else {
                            return Err(de::Error::custom(format!(
                                "an empty step; a step is one of {}",
                                STEP_KINDS.join(", ")
                            )));
                        };
                        let step = match kind.as_str() {
                            $($name => Step::$variant(map.next_value()?),)*
                            other => {
                                return Err(de::Error::custom(format!(
                                    "unknown step kind `{other}`; a step is one of {}",
                                    STEP_KINDS.join(", ")
                                )))
                            }
                        };
                        match map.next_key::<String>()? {
                            None => Ok(step),
                            Some(second) => Err(de::Error::custom(format!(
                                "a step has exactly one kind; found `{kind}` and `{second}` (write them as two steps)"
                            ))),
                        }
                    }
                }
                d.deserialize_map(StepVisitor)
            }
        }
    };
}

step_kinds! {
    /// Send requests and check the responses.
    Traffic(TrafficStep) = "traffic",
    /// Start load that runs while later steps execute.
    BackgroundTraffic(BackgroundStep) = "background_traffic",
    /// Stop background load and check what it saw.
    Join(JoinStep) = "join",
    /// Change a mock upstream.
    Upstream(UpstreamStep) = "upstream",
    /// Signal the gateway.
    Signal(SignalStep) = "signal",
    /// Reload the gateway's config through the admin API.
    Reload(ReloadStep) = "reload",
    /// Rewrite the gateway's config file without a reload.
    ConfigFile(ConfigFileStep) = "config_file",
    /// Wait for a condition with a deadline.
    WaitUntil(WaitStep) = "wait_until",
    /// Let time pass (only where the story is about time).
    Sleep(SleepStep) = "sleep",
    /// Check a metric now.
    AssertMetric(MetricCheck) = "assert_metric",
    /// Check a mock's totals now (hits, complete bodies, peak in flight).
    AssertUpstream(AssertUpstreamStep) = "assert_upstream",
    /// Compare normalised counters and gauges with the stored snapshot.
    Snapshot(SnapshotStep) = "snapshot",
    /// Wait for the gateway process to exit with a code.
    Exit(ExitStep) = "exit",
    /// Exchange messages over one WebSocket through the gateway.
    Websocket(WebSocketStep) = "websocket",
    /// gRPC calls to the echo service, checked by status and replies.
    Grpc(GrpcStep) = "grpc",
}
