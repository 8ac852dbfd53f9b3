//! The configuration file model: what operators write, with defaults.
//!
//! Every struct refuses unknown keys, so a typo is an error that names its key
//! path instead of a silently ignored setting. The proxy never reads these
//! types on the request path; `crate::control::generation` compiles them first.

use super::cache::{CacheStorageConfig, RouteCacheConfig};
use super::limits::{ClusterLimitsConfig, GlobalLimitsConfig, RouteLimitsConfig};
use super::security::{BodyRulesConfig, IpRulesConfig};
use super::values::{Address, ByteSize, EndpointAddress, HashKey, HumanDuration, RetryOn};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The whole file: Pingora's server keys at the top level, the gateway's own
/// settings under `gateway`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Config format version; only 1 exists.
    #[serde(default = "default_version")]
    pub version: usize,
    /// Worker threads per service.
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// Let idle worker threads steal work from busy ones.
    #[serde(default = "default_true")]
    pub work_stealing: bool,
    /// Idle upstream connections kept for reuse.
    #[serde(default = "default_keepalive_pool")]
    pub upstream_keepalive_pool_size: usize,
    /// Where the pid file goes (see `crate::config::runtime_dir` for the default).
    #[serde(default = "default_pid_file")]
    pub pid_file: String,
    /// Unix socket used to hand listeners to a new process on upgrade (see
    /// `crate::config::runtime_dir` for the default).
    #[serde(default = "default_upgrade_sock")]
    pub upgrade_sock: String,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGQUIT.
    #[serde(default = "default_grace_period")]
    pub grace_period_seconds: u64,
    /// Seconds the runtimes get to stop after the grace period.
    #[serde(default = "default_shutdown_timeout")]
    pub graceful_shutdown_timeout_seconds: u64,
    /// Run in the background.
    #[serde(default)]
    pub daemon: bool,
    /// Error log file (stderr when absent).
    #[serde(default)]
    pub error_log: Option<String>,
    /// The gateway's own settings.
    pub gateway: GatewayConfig,
}

/// Listeners, admin endpoint, clusters and routes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Where the proxy accepts client traffic.
    pub listeners: Vec<ListenerConfig>,
    /// Where `/metrics`, `/healthz`, `/ready` and `/config` are served.
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    /// Named groups of upstream endpoints.
    pub clusters: BTreeMap<String, ClusterConfig>,
    /// Request matchers, tried most specific first.
    pub routes: Vec<RouteConfig>,
    /// Limits and path handling for client connections and requests.
    #[serde(default)]
    pub downstream: DownstreamConfig,
    /// How a stopping gateway drains: `/ready` fails for `drain_delay`
    /// while the listeners still serve (docs/FLEET.md).
    #[serde(default)]
    pub shutdown: super::shutdown::ShutdownConfig,
    /// The shared response cache store (restart only).
    #[serde(default)]
    pub cache_storage: CacheStorageConfig,
    /// The per-request access log (text on stderr by default).
    #[serde(default)]
    pub access_log: super::AccessLogSetting,
    /// Proxies (CIDR) whose `X-Forwarded-For` is believed (see
    /// docs/LIMITS.md).
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Client networks admitted or refused on every route.
    #[serde(default)]
    pub ip: Option<IpRulesConfig>,
    /// Rate limits over all routes (docs/LIMITS.md).
    #[serde(default)]
    pub limits: GlobalLimitsConfig,
    /// Re-read the config file every `interval` and apply it when its
    /// content changed (off when absent; docs/CONFIG.md).
    #[serde(default)]
    pub config_watch: Option<ConfigWatchConfig>,
}

/// `gateway.config_watch`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigWatchConfig {
    /// Time between two reads of the config file (more than 0).
    pub interval: HumanDuration,
}

/// Default `gateway.downstream.read_buffer` (see docs/PERFORMANCE.md for the
/// measured trade-off against Pingora's 64 KiB).
pub const DEFAULT_READ_BUFFER: u64 = 4 * 1024;

/// Upper bound of `gateway.downstream.read_buffer`.
pub const MAX_READ_BUFFER: u64 = 1024 * 1024;

/// Limits and path handling for client connections, applied to every
/// listener before a request is routed.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DownstreamConfig {
    /// Longest time from the first byte of an HTTP/1.x request to the end of
    /// its header; slower clients are disconnected (slowloris defence).
    #[serde(default = "default_read_header_timeout")]
    pub read_header_timeout: HumanDuration,
    /// How long an idle keep-alive connection waits for its next request
    /// (whole seconds; rounded up).
    #[serde(default = "default_keepalive_timeout")]
    pub keepalive_timeout: HumanDuration,
    /// Requests served on one HTTP/1.x connection before it is closed
    /// (unlimited when absent).
    #[serde(default)]
    pub max_requests_per_connection: Option<u32>,
    /// Longest request target (path and query); longer gets 414.
    #[serde(default = "default_max_uri_bytes")]
    pub max_uri_bytes: ByteSize,
    /// Largest request header section (names, values and separators);
    /// larger gets 431.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: ByteSize,
    /// Collapse runs of `/` in the path before routing.
    #[serde(default = "default_true")]
    pub merge_slashes: bool,
    /// What to do with `%2F` and `%5C` in the path.
    #[serde(default)]
    pub escaped_slashes: EscapedSlashes,
    /// Read buffer of each client connection, held for the connection's
    /// whole life (0 reads straight from the socket). Read at startup only.
    #[serde(default = "default_read_buffer")]
    pub read_buffer: ByteSize,
    /// Most request header fields; more gets 431 (at most 256, Pingora's
    /// own limit).
    #[serde(default = "default_max_headers")]
    pub max_headers: usize,
    /// Largest request body; larger gets 413 (unlimited when absent).
    #[serde(default)]
    pub max_body_bytes: Option<ByteSize>,
}

impl Default for DownstreamConfig {
    fn default() -> Self {
        DownstreamConfig {
            read_header_timeout: default_read_header_timeout(),
            keepalive_timeout: default_keepalive_timeout(),
            max_requests_per_connection: None,
            max_uri_bytes: default_max_uri_bytes(),
            max_header_bytes: default_max_header_bytes(),
            merge_slashes: true,
            escaped_slashes: EscapedSlashes::default(),
            read_buffer: default_read_buffer(),
            max_headers: default_max_headers(),
            max_body_bytes: None,
        }
    }
}

/// Handling of percent-encoded slashes (`%2F`) and backslashes (`%5C`) in a
/// request path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EscapedSlashes {
    /// Answer 400.
    #[default]
    Reject,
    /// Pass them on encoded; they do not separate path segments.
    Keep,
    /// Decode them to `/` before routing and dot-segment removal.
    Decode,
}

/// One proxy listener.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Address to bind.
    pub address: Address,
    /// Accept HTTP/2 with prior knowledge in plaintext (HTTP/1.1 still works).
    #[serde(default)]
    pub h2c: bool,
    /// Serve HTTPS (see docs/TLS.md); plaintext when absent.
    #[serde(default)]
    pub tls: Option<super::tls::ListenerTlsConfig>,
    /// Every connection starts with a PROXY protocol v1 or v2 header (from a
    /// load balancer), whose source address is the client; connections
    /// without one are closed.
    #[serde(default)]
    pub proxy_protocol: bool,
}

/// The admin listener.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address to bind.
    pub address: Address,
    /// Bearer token required by every admin endpoint except `/healthz` and
    /// `/ready` (`${ENV}` works). Required when `address` is not loopback.
    #[serde(default)]
    pub token: Option<String>,
    /// `Host` values accepted by state-changing requests (`POST`); the
    /// admin address itself and `localhost:PORT` when absent.
    #[serde(default)]
    pub allowed_hosts: Option<Vec<String>>,
}

/// Shown instead of a secret in debug output.
const REDACTED: &str = "<redacted>";

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| REDACTED))
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

impl std::fmt::Debug for StickyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StickyConfig")
            .field("cookie", &self.cookie)
            .field("max_age", &self.max_age)
            .field("secret", &self.secret.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// A named group of endpoints with its balancing, health and retry policy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The primary pool.
    pub endpoints: Vec<EndpointConfig>,
    /// Used only while no primary endpoint is healthy.
    #[serde(default)]
    pub backup: Vec<EndpointConfig>,
    /// How an endpoint is chosen.
    #[serde(default, with = "serde_yaml::with::singleton_map")]
    pub balance: Balance,
    /// Pin clients to an endpoint with a cookie.
    #[serde(default)]
    pub sticky: Option<StickyConfig>,
    /// Active health checking.
    #[serde(default)]
    pub health_check: Option<HealthCheckConfig>,
    /// Passive health: endpoints that keep failing to connect are skipped.
    #[serde(default)]
    pub passive_health: PassiveHealthConfig,
    /// Retry policy.
    #[serde(default)]
    pub retries: RetryConfig,
    /// Upstream timeouts.
    #[serde(default)]
    pub timeouts: TimeoutConfig,
    /// Protocol spoken to the endpoints.
    #[serde(default)]
    pub protocol: UpstreamProtocol,
    /// TLS toward the endpoints (plaintext when absent).
    #[serde(default)]
    pub tls: Option<UpstreamTlsConfig>,
    /// Concurrency limit over all routes of the cluster (docs/LIMITS.md).
    /// Not part of the cluster's runtime identity: changing it keeps the
    /// cluster and its health state.
    #[serde(default)]
    pub limits: Option<ClusterLimitsConfig>,
}

/// TLS toward a cluster's endpoints. Paths are PEM files, relative to the
/// config file's directory.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsConfig {
    /// Server name sent and verified (the endpoint's IP address when absent).
    #[serde(default)]
    pub sni: Option<String>,
    /// CA certificates that verify the endpoints (the system roots when
    /// absent).
    #[serde(default)]
    pub ca: Option<String>,
    /// Client certificate chain for mutual TLS, leaf first.
    #[serde(default)]
    pub client_cert: Option<String>,
    /// Private key of `client_cert`.
    #[serde(default)]
    pub client_key: Option<String>,
    /// Verify the endpoint's certificate chain.
    #[serde(default = "default_true")]
    pub verify: bool,
    /// Verify that the certificate matches the server name.
    #[serde(default = "default_true")]
    pub verify_hostname: bool,
    /// Contents of the files above, read when the config is compiled (never
    /// from YAML). Part of equality, so a reload picks up replaced files.
    #[serde(skip)]
    pub files: TlsFiles,
}

/// DER contents of a cluster's TLS files.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsFiles {
    /// Certificates from `ca`.
    pub ca: Vec<Vec<u8>>,
    /// Certificates from `client_cert`, leaf first.
    pub client_chain: Vec<Vec<u8>>,
    /// The key from `client_key`.
    pub client_key: Vec<u8>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("ca", &self.ca.len())
            .field("client_chain", &self.client_chain.len())
            .field("client_key", &!self.client_key.is_empty())
            .finish()
    }
}

/// One upstream endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// Socket address (`IP:port`) or Unix socket (`unix:/abs/path`).
    pub address: EndpointAddress,
    /// Relative share of traffic for weighted balancing.
    #[serde(default = "default_weight")]
    pub weight: usize,
    /// Label used in metrics and logs instead of the address.
    #[serde(default)]
    pub name: Option<String>,
}

/// Endpoint selection algorithm.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Balance {
    /// Rotate through endpoints (honours weights).
    #[default]
    RoundRobin,
    /// Weighted rotation (the same algorithm as `round_robin`, which already
    /// honours weights; kept as a separate name for clarity in configs).
    Weighted,
    /// Weighted random choice.
    Random,
    /// Ketama consistent hashing on a request key.
    ConsistentHash {
        /// What to hash.
        key: HashKey,
    },
}

/// Cookie-based session affinity.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StickyConfig {
    /// Cookie name.
    pub cookie: String,
    /// Cookie lifetime; a session cookie when absent.
    #[serde(default)]
    pub max_age: Option<HumanDuration>,
    /// Key of the cookie's endpoint ids (`${ENV}` works). Without it a
    /// random key per process is used: pins then end at a restart and do
    /// not carry across instances.
    #[serde(default)]
    pub secret: Option<String>,
}

/// Kind of active health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthCheckKind {
    /// A TCP connect succeeds.
    Tcp,
    /// An HTTP GET answers with the expected status (and body substring).
    Http,
}

/// Active health check settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// TCP or HTTP.
    pub kind: HealthCheckKind,
    /// Request path for HTTP checks.
    #[serde(default)]
    pub path: Option<String>,
    /// `Host` header for HTTP checks (the endpoint's address when absent).
    #[serde(default)]
    pub host: Option<String>,
    /// Status an HTTP check expects.
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// Substring the HTTP response body must contain.
    #[serde(default)]
    pub expect_body: Option<String>,
    /// Time between checks.
    #[serde(default = "default_check_interval")]
    pub interval: HumanDuration,
    /// Time a single check may take.
    #[serde(default = "default_check_timeout")]
    pub timeout: HumanDuration,
    /// Consecutive successes that make an unhealthy endpoint healthy.
    #[serde(default = "default_threshold")]
    pub healthy_after: usize,
    /// Consecutive failures that make a healthy endpoint unhealthy.
    #[serde(default = "default_threshold")]
    pub unhealthy_after: usize,
}

/// Passive health settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PassiveHealthConfig {
    /// Consecutive connect failures that eject an endpoint (0 disables).
    #[serde(default = "default_passive_failures")]
    pub consecutive_failures: u32,
    /// How long an ejected endpoint is skipped when the cluster has no active
    /// health check; with one, it stays ejected until a check succeeds.
    #[serde(default = "default_passive_cooldown")]
    pub cooldown: HumanDuration,
}

impl Default for PassiveHealthConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: default_passive_failures(),
            cooldown: default_passive_cooldown(),
        }
    }
}

/// Retry policy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Retries after the first attempt, each to a different endpoint.
    #[serde(default = "default_retry_attempts")]
    pub attempts: usize,
    /// Conditions that trigger a retry.
    #[serde(default = "default_retry_on")]
    pub on: Vec<RetryOn>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: default_retry_attempts(),
            on: default_retry_on(),
        }
    }
}

/// Upstream timeouts.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutConfig {
    /// TCP connect.
    #[serde(default = "default_connect_timeout")]
    pub connect: HumanDuration,
    /// Between reads of the upstream response.
    #[serde(default = "default_io_timeout")]
    pub read: HumanDuration,
    /// Between writes of the upstream request.
    #[serde(default = "default_io_timeout")]
    pub write: HumanDuration,
    /// How long an idle pooled connection is kept.
    #[serde(default = "default_idle_timeout")]
    pub idle: HumanDuration,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            connect: default_connect_timeout(),
            read: default_io_timeout(),
            write: default_io_timeout(),
            idle: default_idle_timeout(),
        }
    }
}

/// Protocol spoken to upstream endpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamProtocol {
    /// HTTP/1.1.
    #[default]
    Http1,
    /// HTTP/2 with prior knowledge over plaintext.
    H2c,
    /// HTTP/2 over TLS, negotiated by ALPN (needs `tls`).
    H2,
}

/// One route: a matcher, the cluster it sends to, and request/response edits.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Name used in metrics and logs (`route<N>` when absent).
    #[serde(default)]
    pub name: Option<String>,
    /// What requests this route takes.
    #[serde(default, rename = "match")]
    pub matcher: MatchConfig,
    /// Cluster that serves the route.
    pub cluster: String,
    /// Path rewriting.
    #[serde(default)]
    pub rewrite: Option<RewriteConfig>,
    /// Query string edits.
    #[serde(default)]
    pub query: Option<QueryConfig>,
    /// Edits to the request sent upstream.
    #[serde(default)]
    pub request_headers: Option<HeaderRulesConfig>,
    /// Edits to the response sent to the client.
    #[serde(default)]
    pub response_headers: Option<HeaderRulesConfig>,
    /// Template for errors the gateway produces on this route.
    #[serde(default)]
    pub error_page: Option<ErrorPageConfig>,
    /// Response caching (off when absent).
    #[serde(default)]
    pub cache: Option<RouteCacheConfig>,
    /// Client authentication (none when absent).
    #[serde(default)]
    pub auth: Option<super::auth::RouteAuthConfig>,
    /// Client certificate the route requires (HTTPS listeners with
    /// `client_auth`): 401 without one, 403 when neither CN nor SAN is listed.
    #[serde(default)]
    pub client_cert: Option<super::tls::ClientCertMatch>,
    /// Request header that carries the client certificate's CN upstream;
    /// a client-sent value is always removed.
    #[serde(default)]
    pub client_cert_header: Option<String>,
    /// Server name sent to and verified on TLS upstreams: a name, or
    /// `from_host` for the request's host (the cluster's `tls.sni` when absent).
    #[serde(default)]
    pub upstream_sni: Option<String>,
    /// Client networks admitted or refused on this route.
    #[serde(default)]
    pub ip: Option<IpRulesConfig>,
    /// Largest request body (at most `gateway.downstream.max_body_bytes`).
    #[serde(default)]
    pub max_body_bytes: Option<ByteSize>,
    /// Largest request header section (at most the global one).
    #[serde(default)]
    pub max_header_bytes: Option<ByteSize>,
    /// Most request header fields (at most the global one).
    #[serde(default)]
    pub max_headers: Option<usize>,
    /// Patterns refused in the first bytes of the request body.
    #[serde(default)]
    pub body_rules: Option<BodyRulesConfig>,
    /// Rate, window and concurrency limits (docs/LIMITS.md).
    #[serde(default)]
    pub limits: Option<RouteLimitsConfig>,
    /// How long an upgraded (WebSocket) connection may go without a byte
    /// in either direction before it is closed (docs/WEBSOCKET.md).
    #[serde(default = "default_websocket_idle_timeout")]
    pub websocket_idle_timeout: HumanDuration,
    /// Answer plaintext requests with 308 to the first HTTPS listener.
    #[serde(default)]
    pub redirect_https: bool,
}

/// Request matcher; every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// Exact host (`api.example.com`) or suffix wildcard (`*.example.com`).
    #[serde(default)]
    pub host: Option<String>,
    /// Path prefix; the longest matching prefix wins.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Allowed methods (all when absent).
    #[serde(default)]
    pub methods: Option<Vec<String>>,
}

/// Path rewriting applied before the request goes upstream.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteConfig {
    /// Remove the matched `path_prefix`.
    #[serde(default)]
    pub strip_prefix: bool,
    /// Replace the matched `path_prefix` with this.
    #[serde(default)]
    pub replace_prefix: Option<String>,
}

/// Query string edits.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    /// Parameters removed.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Parameters set (replacing any existing value).
    #[serde(default)]
    pub set: BTreeMap<String, String>,
}

/// Header set/add/remove rules.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRulesConfig {
    /// Headers set, replacing existing values.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Headers appended.
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    /// Headers removed.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// A custom error page.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorPageConfig {
    /// Template file, relative to the config file. `{{status}}`, `{{error}}`
    /// and `{{request_id}}` are replaced.
    pub file: String,
    /// Content type of the page.
    #[serde(default = "default_error_content_type")]
    pub content_type: String,
}

fn default_read_header_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}
fn default_keepalive_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}
fn default_max_uri_bytes() -> ByteSize {
    ByteSize(8 * 1024)
}
fn default_max_header_bytes() -> ByteSize {
    ByteSize(64 * 1024)
}
fn default_max_headers() -> usize {
    super::security::PINGORA_MAX_HEADERS
}
fn default_read_buffer() -> ByteSize {
    ByteSize(DEFAULT_READ_BUFFER)
}
fn default_version() -> usize {
    1
}
fn default_threads() -> usize {
    2
}
fn default_true() -> bool {
    true
}
fn default_keepalive_pool() -> usize {
    128
}
fn default_pid_file() -> String {
    crate::config::runtime_dir::default_dir()
        .join("gateway.pid")
        .display()
        .to_string()
}
fn default_upgrade_sock() -> String {
    crate::config::runtime_dir::default_dir()
        .join("upgrade.sock")
        .display()
        .to_string()
}
fn default_grace_period() -> u64 {
    5
}
fn default_shutdown_timeout() -> u64 {
    10
}
fn default_weight() -> usize {
    1
}
fn default_check_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(2))
}
fn default_check_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}
fn default_threshold() -> usize {
    2
}
fn default_passive_failures() -> u32 {
    3
}
fn default_passive_cooldown() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}
fn default_retry_attempts() -> usize {
    1
}
fn default_retry_on() -> Vec<RetryOn> {
    vec![RetryOn::ConnectFailure]
}
fn default_connect_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(3))
}
fn default_io_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}
fn default_idle_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}
fn default_websocket_idle_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}
fn default_error_content_type() -> String {
    "text/html; charset=utf-8".into()
}
