//! The scenario file format (YAML). Every struct refuses unknown keys so a
//! typo fails loudly; see docs/SCENARIOS.md for the reference.

use super::steps::StepKind;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name; must match the file name.
    pub name: String,
    /// What the story proves.
    #[serde(default)]
    pub description: String,
    /// Seed for everything random (flap schedules); `SCENARIO_SEED` overrides.
    #[serde(default)]
    pub seed: u64,
    /// Mock upstreams by name.
    #[serde(default)]
    pub upstreams: BTreeMap<String, UpstreamSpec>,
    /// The gateway under test.
    pub gateway: GatewaySpec,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

/// The gateway's config template.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySpec {
    /// Template path, relative to the workspace root.
    pub config: String,
}

/// Kinds of mock upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BehaviourKind {
    /// Fixed status and body.
    Fixed,
    /// JSON description of the request.
    Echo,
    /// Delay, then a fixed response.
    Slow,
    /// Headers and part of the body, then a stall.
    StallBody,
    /// Accept, then RST.
    Reset,
    /// Content-Length larger than the body, part of the body, then RST.
    ResetBody,
    /// Content-Length larger than the body, then close.
    BodyMismatch,
    /// Chunked body that breaks off: no terminating chunk, then close.
    ChunkedTruncated,
    /// HTTP/2 prior knowledge only.
    H2c,
    /// TLS requiring a client certificate from the test CA.
    Mtls,
    /// Versioned cacheable resource with validators.
    Cacheable,
    /// WebSocket echo (every text and binary message sent back).
    Websocket,
    /// gRPC echo service (unary and server streaming) over h2c.
    Grpc,
}

/// A mock upstream and its behaviour.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// Which behaviour.
    pub behaviour: BehaviourKind,
    /// Response status (fixed, slow, h2c, mtls; cacheable: of full responses).
    #[serde(default)]
    pub status: Option<u16>,
    /// Response body (defaults to the upstream's name).
    #[serde(default)]
    pub body: Option<String>,
    /// Extra response headers (fixed, slow, h2c, mtls, cacheable, reset_body).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Delay before the response (slow, cacheable) or stall length
    /// (stall_body).
    #[serde(default, deserialize_with = "opt_duration")]
    pub delay: Option<Duration>,
    /// Content-Length announced by body_mismatch / reset_body / stall_body.
    #[serde(default)]
    pub declared_length: Option<usize>,
    /// How many chunks a chunked_truncated body is sent as (default 1).
    #[serde(default)]
    pub chunks: Option<usize>,
    /// Cache-Control of a cacheable upstream.
    #[serde(default)]
    pub cache_control: Option<String>,
    /// Cacheable: park every request until an `upstream` step releases them.
    #[serde(default)]
    pub hold: bool,
    /// Start down (connection refused) instead of up.
    #[serde(default)]
    pub down: bool,
    /// Listen on a Unix socket in the run's temp dir: `${upstream.NAME}`
    /// is then `unix:/...`.
    #[serde(default)]
    pub unix: bool,
}

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
    /// Wait for a condition with a deadline.
    WaitUntil(WaitStep) = "wait_until",
    /// Let time pass (only where the story is about time).
    Sleep(SleepStep) = "sleep",
    /// Check a metric now.
    AssertMetric(MetricCheck) = "assert_metric",
    /// Check a mock's total hit count now.
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

/// One WebSocket through the gateway: `messages` test messages sent in
/// batches and their echoes read back, with an optional silence halfway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketStep {
    /// Path of the upgrade request.
    #[serde(default = "default_path")]
    pub path: String,
    /// How many messages.
    pub messages: usize,
    /// Silence after the first half of the messages.
    #[serde(default, deserialize_with = "opt_duration")]
    pub pause: Option<Duration>,
    /// Which `${port.NAME}` listener (default `proxy`).
    #[serde(default = "default_listener")]
    pub listener: String,
    /// What must hold afterwards.
    #[serde(default)]
    pub expect: WebSocketExpect,
}

/// Checks on a [`WebSocketStep`]; the exchange itself must always complete.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketExpect {
    /// Every reply equals the message sent at its position.
    #[serde(default)]
    pub echoed_in_order: bool,
}

/// gRPC calls through an h2c listener to the `grpc` mock's echo service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcStep {
    /// Which `${port.NAME}` listener (default `proxy`; it needs `h2c: true`).
    #[serde(default = "default_listener")]
    pub listener: String,
    /// Which method.
    pub call: GrpcCallKind,
    /// How many calls.
    pub requests: usize,
    /// Calls in flight at once (streams on one h2c connection).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Replies asked of each `stream` call (default 1; unary: always 1).
    #[serde(default = "default_messages")]
    pub messages: u32,
    /// A status the echo service ends each call with instead of OK, after
    /// its replies (in the trailers) or alone (trailers-only).
    #[serde(default)]
    pub status: i32,
    /// Per-call timeout.
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// What must hold afterwards.
    #[serde(default)]
    pub expect: GrpcExpect,
}

/// The echo service's methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrpcCallKind {
    /// `/echo.Echo/Unary`: one reply.
    Unary,
    /// `/echo.Echo/Stream`: `messages` replies.
    Stream,
}

/// Checks on a batch of gRPC calls. Every call must end with a status that
/// was received (a transport failure or a missing `grpc-status` fails the
/// step), and every reply must echo its request in order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcExpect {
    /// Exact counts of calls by final `grpc-status`; a status not listed
    /// must not occur.
    #[serde(default)]
    pub grpc_status: Option<BTreeMap<i32, usize>>,
    /// Replies received in total.
    #[serde(default)]
    pub messages: Option<usize>,
    /// Text every non-OK `grpc-message` must contain.
    #[serde(default)]
    pub grpc_message_contains: Option<String>,
}

/// Background load: the keys of [`TrafficStep`], where `requests` is an
/// optional cap and `name` / `max_time` apply.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct BackgroundStep(pub TrafficStep);

/// A pause, written as a duration (`sleep: 2s`).
#[derive(Debug, Clone, Copy)]
pub struct SleepStep(pub Duration);

impl<'de> Deserialize<'de> for SleepStep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        duration(d).map(SleepStep)
    }
}

/// Wait for the gateway to exit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitStep {
    /// Expected exit code.
    pub code: i32,
    /// Deadline.
    #[serde(deserialize_with = "duration")]
    pub within: Duration,
}

/// A batch of requests (`traffic`) or load in the background
/// (`background_traffic`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficStep {
    /// How many (required for `traffic`; the cap for background load).
    #[serde(default)]
    pub requests: Option<usize>,
    /// Background load: name used by `join` and `wait_until`.
    #[serde(default = "default_background")]
    pub name: String,
    /// Background load: upper bound on time.
    #[serde(default = "default_background_time", deserialize_with = "duration")]
    pub max_time: Duration,
    /// Path and query.
    #[serde(default = "default_path")]
    pub path: String,
    /// Method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default)]
    pub body: Option<String>,
    /// A request body of this many bytes (`x`), instead of `body`.
    #[serde(default)]
    pub body_size: Option<usize>,
    /// Send the body chunked (no `Content-Length`), 1 KiB per chunk.
    #[serde(default)]
    pub chunked: bool,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// HTTP/2 with prior knowledge.
    #[serde(default)]
    pub http2: bool,
    /// Reuse client connections.
    #[serde(default)]
    pub keepalive: bool,
    /// Which `${port.NAME}` listener (default `proxy`).
    #[serde(default = "default_listener")]
    pub listener: String,
    /// Per-request timeout.
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// HTTPS to the listener, verified with the test CA.
    #[serde(default)]
    pub tls: Option<ClientTlsSpec>,
    /// Paced sending (`30/s`): request `i` starts `i / rate` after the first.
    #[serde(default)]
    pub rate: Option<RequestRate>,
    /// What must hold afterwards (`traffic` only).
    #[serde(default)]
    pub expect: Expect,
}

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

/// An upper bound on successes: a count, or a rate limit's bound over the
/// batch's measured time.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SuccessBound {
    /// At most this many.
    Count(usize),
    /// At most `burst + ⌊rate · t⌋`.
    Rate(RateBound),
}

/// `{ rate, burst }` of [`SuccessBound::Rate`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateBound {
    /// The limit's sustained rate.
    pub rate: RequestRate,
    /// The limit's burst.
    pub burst: usize,
}

impl SuccessBound {
    /// The bound for a batch that took `elapsed`.
    pub fn limit(&self, elapsed: Duration) -> usize {
        match self {
            SuccessBound::Count(n) => *n,
            SuccessBound::Rate(b) => {
                b.burst + (b.rate.per_second * elapsed.as_secs_f64()).floor() as usize
            }
        }
    }
}

/// Stop background load.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinStep {
    /// Which background load.
    #[serde(default = "default_background")]
    pub name: String,
    /// What must hold for everything it sent.
    #[serde(default)]
    pub expect: Expect,
}

/// HTTPS client settings: the test CA verifies the gateway's certificate
/// for `server_name`, which is sent as SNI while connecting to 127.0.0.1.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTlsSpec {
    /// Server name sent and verified (default `localhost`); an IP address
    /// sends no SNI.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Which client certificate to present.
    #[serde(default)]
    pub client_cert: ClientCertChoice,
}

/// A client certificate from [`crate::certs::TestCerts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientCertChoice {
    /// None.
    #[default]
    None,
    /// Signed by the test CA (CN `gateway-client`).
    Test,
    /// Signed by the unrelated CA (CN `other-client`).
    Other,
}

/// Checks on a batch of responses. Every given field must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Exact counts of complete responses by status; any status not listed
    /// must not occur, and no request may fail without a status unless
    /// `failures` says so.
    #[serde(default)]
    pub status: Option<BTreeMap<u16, usize>>,
    /// Exact counts of failures without a complete response (`refused`,
    /// `timeout`, `body`, `transport`).
    #[serde(default)]
    pub failures: Option<BTreeMap<String, usize>>,
    /// Every request got a complete 2xx response (none refused, reset,
    /// timed out or cut short).
    #[serde(default)]
    pub all_ok: bool,
    /// Complete 2xx responses, exactly.
    #[serde(default)]
    pub successes: Option<usize>,
    /// At least this many complete 2xx responses.
    #[serde(default)]
    pub successes_at_least: Option<usize>,
    /// At most this many complete 2xx responses: a number, or
    /// `{ rate, burst }` for `burst + ⌊rate · t⌋`, `t` being the batch's
    /// elapsed time as the driver measured it (a GCRA limit's bound).
    #[serde(default)]
    pub successes_at_most: Option<SuccessBound>,
    /// Every complete response with one of these statuses carries each of
    /// the listed headers (`{ 429: [retry-after, ratelimit] }`).
    #[serde(default)]
    pub status_headers: BTreeMap<u16, Vec<String>>,
    /// Complete 2xx responses by `x-upstream`, exactly, for each listed name.
    #[serde(default)]
    pub served_by: BTreeMap<String, usize>,
    /// Requests each mock counted during the step, exactly.
    #[serde(default)]
    pub upstream_hits: BTreeMap<String, u64>,
    /// Exact counts of complete responses per value of a header
    /// (`(absent)` for responses without it); a value not listed must not
    /// occur.
    #[serde(default)]
    pub header_counts: BTreeMap<String, BTreeMap<String, usize>>,
    /// Every complete 2xx body contains this.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// No complete 2xx body contains this.
    #[serde(default)]
    pub body_excludes: Option<String>,
    /// Every complete 2xx response has these headers with these values.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Every complete response came over TLS with a server certificate of
    /// this common name.
    #[serde(default)]
    pub server_cert_cn: Option<String>,
    /// Every complete response has this HTTP version (`HTTP/1.1`, `HTTP/2`).
    #[serde(default)]
    pub http_version: Option<String>,
    /// Responses whose head arrived but whose body broke off (the client
    /// saw an incomplete message), exactly.
    #[serde(default)]
    pub incomplete: Option<usize>,
    /// Exchanges the server ended abnormally after it got the request,
    /// exactly: an incomplete body, or a reset stream (with HTTP/2 the reset
    /// may overtake the head).
    #[serde(default)]
    pub cut_short: Option<usize>,
    /// Every response that came from a mock (carries `x-upstream`),
    /// complete or not, has a body that is a prefix of that mock's
    /// configured body: nothing the gateway added, nothing else.
    #[serde(default)]
    pub body_prefix_only: bool,
}

/// Changes to a mock upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamStep {
    /// Which mock.
    pub name: String,
    /// `up` or `down`.
    #[serde(default)]
    pub set: Option<UpState>,
    /// A new behaviour.
    #[serde(default)]
    pub behaviour: Option<UpstreamSpec>,
    /// Status for HTTP health checks.
    #[serde(default)]
    pub health_status: Option<u16>,
    /// Start flapping on a seeded schedule.
    #[serde(default)]
    pub flap: Option<FlapSpec>,
    /// Wait for a running flap schedule to end.
    #[serde(default)]
    pub wait_flap_end: bool,
    /// Let requests parked by a `hold: true` mock go.
    #[serde(default)]
    pub release: bool,
    /// Make the mock's next response a new version (cacheable).
    #[serde(default)]
    pub bump_version: bool,
}

/// Checks on one mock's totals since the scenario started.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssertUpstreamStep {
    /// Which mock.
    pub name: String,
    /// Requests it served in total (health checks excluded), exactly.
    #[serde(default)]
    pub hits: Option<u64>,
    /// Non-empty request bodies it received complete, exactly (a
    /// behaviour that reads bodies: `echo`).
    #[serde(default)]
    pub complete_bodies: Option<u64>,
    /// The most requests it was answering at once (from the request head
    /// to the response head), exactly.
    #[serde(default)]
    pub peak_in_flight: Option<u64>,
}

/// Listener state of a mock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpState {
    /// Listening.
    Up,
    /// Connections refused.
    Down,
}

/// A seeded flap schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlapSpec {
    /// Up/down cycles.
    pub cycles: usize,
    /// Shortest phase.
    #[serde(deserialize_with = "duration")]
    pub min: Duration,
    /// Longest phase.
    #[serde(deserialize_with = "duration")]
    pub max: Duration,
}

/// Signals the runner can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// SIGTERM: graceful shutdown.
    Term,
    /// A new process with `-u`, then SIGQUIT to the old one.
    QuitUpgrade,
    /// SIGINT: fast shutdown.
    Int,
    /// SIGHUP: reload.
    Hup,
}

/// Signal the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalStep {
    /// Which signal.
    pub send: SignalKind,
    /// For term/int/quit_upgrade: the exit code the (old) process must end
    /// with.
    #[serde(default)]
    pub expect_exit: Option<i32>,
    /// How long the exit (or the upgrade) may take.
    #[serde(default = "default_signal_within", deserialize_with = "duration")]
    pub within: Duration,
}

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

/// A metric comparison. `metric` is `name{label="value",...}`; matching
/// series are summed (absent counts as 0).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricCheck {
    /// Selector.
    pub metric: String,
    /// Must equal.
    #[serde(default)]
    pub equals: Option<f64>,
    /// Must be at least.
    #[serde(default)]
    pub at_least: Option<f64>,
    /// Must be at most.
    #[serde(default)]
    pub at_most: Option<f64>,
}

/// Wait for one condition: a metric, a mock's hits, or background progress.
/// The metric fields repeat [`MetricCheck`]'s because serde cannot flatten
/// a struct into one that refuses unknown keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    /// Metric selector, as in [`MetricCheck`].
    #[serde(default)]
    pub metric: Option<String>,
    /// With `metric`: must equal.
    #[serde(default)]
    pub equals: Option<f64>,
    /// With `metric`: must be at least.
    #[serde(default)]
    pub at_least: Option<f64>,
    /// With `metric`: must be at most.
    #[serde(default)]
    pub at_most: Option<f64>,
    /// Or: a mock's hit count reaching a value.
    #[serde(default)]
    pub upstream: Option<String>,
    /// With `upstream`: hits to reach.
    #[serde(default)]
    pub hits_at_least: Option<u64>,
    /// Or: background load having completed this many requests.
    #[serde(default)]
    pub background: Option<String>,
    /// With `background`: completed requests to reach.
    #[serde(default)]
    pub completed_at_least: Option<usize>,
    /// Deadline.
    #[serde(deserialize_with = "duration")]
    pub within: Duration,
}

/// Snapshot settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotStep {
    /// Snapshot name suffix (several snapshots in one scenario).
    #[serde(default)]
    pub name: Option<String>,
    /// Metric families included (all `gateway_*` counters and gauges when
    /// empty).
    #[serde(default)]
    pub metrics: Vec<String>,
    /// Families whose values depend on timing: recorded as `0` or `>0`.
    #[serde(default)]
    pub nonzero: Vec<String>,
    /// Include each mock's hit count (default true).
    #[serde(default = "default_true")]
    pub hits: bool,
}

fn default_true() -> bool {
    true
}

fn default_path() -> String {
    "/".into()
}
fn default_method() -> String {
    "GET".into()
}
fn default_concurrency() -> usize {
    1
}
fn default_messages() -> u32 {
    1
}
fn default_listener() -> String {
    "proxy".into()
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_background() -> String {
    "background".into()
}
fn default_background_time() -> Duration {
    Duration::from_secs(60)
}
fn default_signal_within() -> Duration {
    Duration::from_secs(20)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        de::Error::custom(format!(
            "`{s}` is not a duration such as `500ms` or `2s` ({e})"
        ))
    })
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}
