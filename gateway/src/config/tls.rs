//! The config model of HTTPS listeners (`gateway.listeners[].tls`) and the
//! route keys that read the client certificate. Paths are PEM files,
//! relative to the config file's directory; they are read when the config
//! is compiled (`crate::edge::tls`).

use serde::{Deserialize, Serialize};

/// The route value of `upstream_sni` that sends the request's host.
pub const SNI_FROM_HOST: &str = "from_host";

/// TLS on a proxy listener.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTlsConfig {
    /// Certificate chain served when no entry of `certificates` matches the
    /// client's server name (or the client sends none), leaf first.
    pub cert: String,
    /// Private key of `cert`.
    pub key: String,
    /// Offer HTTP/2 by ALPN (`h2`, then `http/1.1`).
    #[serde(default)]
    pub h2: bool,
    /// Certificates chosen by the client's server name (SNI).
    #[serde(default)]
    pub certificates: Vec<SniCertConfig>,
    /// Ask clients for a certificate.
    #[serde(default)]
    pub client_auth: Option<ClientAuthConfig>,
}

/// A certificate served for some server names.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SniCertConfig {
    /// Exact names (`api.example.com`) or one-label wildcards
    /// (`*.example.org`); an exact name wins over a wildcard.
    pub hosts: Vec<String>,
    /// Certificate chain, leaf first.
    pub cert: String,
    /// Private key of `cert`.
    pub key: String,
}

/// Client certificates (mutual TLS).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthConfig {
    /// CA certificates that must have signed client certificates (required).
    #[serde(default)]
    pub ca: Option<String>,
    /// Whether a client without a certificate completes the handshake.
    #[serde(default)]
    pub mode: ClientAuthMode,
}

/// Whether a client certificate is required at the handshake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMode {
    /// No certificate (or one not signed by `ca`): the handshake fails.
    #[default]
    Require,
    /// No certificate is accepted; a certificate, when sent, must be signed
    /// by `ca`. Routes decide with `client_cert`.
    Optional,
}

/// Which client certificates a route accepts: its CN is listed in `cn`, or
/// one of its DNS / URI / email SANs in `san`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertMatch {
    /// Accepted subject common names.
    #[serde(default)]
    pub cn: Vec<String>,
    /// Accepted subject alternative names.
    #[serde(default)]
    pub san: Vec<String>,
}
