//! Route authentication (`auth:` on a route): API keys, HTTP Basic and
//! JWT bearer tokens, one submodule per kind.
//!
//! `proxy.rs` calls [`authenticate`] in `request_filter` after the route
//! matched, and [`to_upstream`] in `upstream_request_filter`. On success
//! the request carries the identity (the key's name, the user, or the
//! token's `sub`): in `RequestCtx.identity`, in the `forward_as` header
//! sent upstream (replacing any value the client sent), and in the cache
//! key of a caching route (see `cache::cache_key`). The credential is
//! removed from the request unless `strip: false`. On failure the client
//! gets 401 with `WWW-Authenticate` and nothing reaches the upstream.
//!
//! Background cache revalidations are Pingora subrequests that replay the
//! client's request through every phase with a fresh context, and need
//! the same identity to find the same cache entry. What they replay
//! depends on the client's protocol: an HTTP/1.x request's original bytes
//! (credential present, edits lost), an HTTP/2 request's edited header
//! (credential stripped). So a revalidation verifies the credential when
//! it has one, and otherwise takes the identity from [`IDENTITY_CARRIER`],
//! a request header the gateway writes after authenticating a request
//! (replacing any client-sent value) and removes before anything goes
//! upstream; a client-sent carrier only survives in replayed HTTP/1.x
//! bytes, which always hold the credential, so it is never read.
//! Revalidation failures are not counted (no client is refused).

pub(crate) mod api_key;
pub(crate) mod basic;
pub(crate) mod jwt;
pub(crate) mod metrics;
pub(crate) mod verified;

use crate::config::{ConfigError, ConfigSource, RouteAuthConfig};
use crate::response::error::ErrorResponse;
use api_key::{ApiKeys, KeySource};
use basic::BasicUsers;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue};
use jwt::JwtVerifier;
use metrics::FailureCounters;
pub(crate) use metrics::Reason;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::sync::Arc;

/// Request header carrying the authenticated identity from the client's
/// request to background revalidations; never sent upstream.
pub(crate) const IDENTITY_CARRIER: &str = "x-gateway-identity";

/// How one route checks credentials.
enum Verifier {
    ApiKey(ApiKeys),
    Basic(BasicUsers),
    Jwt(JwtVerifier),
}

/// A route's compiled `auth` section.
pub struct RouteAuth {
    verifier: Verifier,
    forward_as: Option<HeaderName>,
    strip: bool,
    failures: FailureCounters,
    /// `WWW-Authenticate` per [`Reason`].
    challenges: [HeaderValue; 3],
}

fn challenge(text: String) -> HeaderValue {
    // Realms and header names are validated; a failure only drops detail.
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("Basic"))
}

impl RouteAuth {
    /// Compiles the validated `auth` section of `gateway.routes[index]`
    /// (named `route`); reads a JWT `key_file`.
    pub fn new(
        route: &str,
        index: usize,
        cfg: &RouteAuthConfig,
        source: &ConfigSource,
    ) -> Result<Self, ConfigError> {
        let (verifier, challenges) = match cfg {
            RouteAuthConfig::ApiKey(c) => {
                let keys = ApiKeys::new(c);
                let text = match &keys.source {
                    KeySource::Header(h) => format!("ApiKey header=\"{h}\""),
                    KeySource::Query(q) => format!("ApiKey query=\"{q}\""),
                };
                let v = challenge(text);
                (Verifier::ApiKey(keys), [v.clone(), v.clone(), v])
            }
            RouteAuthConfig::Basic(c) => {
                let v = challenge(format!("Basic realm=\"{}\", charset=\"UTF-8\"", c.realm));
                (
                    Verifier::Basic(BasicUsers::new(c)),
                    [v.clone(), v.clone(), v],
                )
            }
            RouteAuthConfig::Jwt(c) => {
                let verifier = JwtVerifier::new(c, &source.base_dir()).map_err(|(key, msg)| {
                    ConfigError::at(
                        &source.display_name(),
                        format!("gateway.routes[{index}].auth.{key}"),
                        msg,
                    )
                })?;
                let invalid = |what: &str| {
                    challenge(format!(
                        "Bearer error=\"invalid_token\", error_description=\"{what}\""
                    ))
                };
                (
                    Verifier::Jwt(verifier),
                    [
                        HeaderValue::from_static("Bearer"),
                        invalid("the token is not valid"),
                        invalid("the token expired"),
                    ],
                )
            }
        };
        let reasons: &[Reason] = match verifier {
            Verifier::Jwt(_) => &Reason::ALL,
            Verifier::ApiKey(_) | Verifier::Basic(_) => &[Reason::Missing, Reason::Invalid],
        };
        Ok(RouteAuth {
            verifier,
            forward_as: cfg
                .forward_as()
                .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
            strip: cfg.strip(),
            failures: FailureCounters::new(route, reasons),
            challenges,
        })
    }

    /// Registers the route's metric series (see [`FailureCounters::activate`]).
    pub fn activate(&self) {
        self.failures.activate();
    }

    async fn verify(&self, req: &RequestHeader) -> Result<Arc<str>, Reason> {
        let authorization = || req.headers.get(AUTHORIZATION).map(|v| v.as_bytes());
        match &self.verifier {
            Verifier::ApiKey(keys) => keys.verify(req),
            Verifier::Basic(users) => users.verify(authorization()).await,
            Verifier::Jwt(jwt) => jwt.verify(authorization()),
        }
    }

    /// Removes the credential from the client's request.
    fn strip_credential(&self, req: &mut RequestHeader) -> pingora::Result<()> {
        match &self.verifier {
            Verifier::ApiKey(keys) => match &keys.source {
                KeySource::Header(h) => {
                    req.remove_header(h);
                }
                KeySource::Query(param) => {
                    let query = req
                        .uri
                        .query()
                        .and_then(|q| api_key::query_without(q, param));
                    let uri = crate::hygiene::request_target::with_path_and_query(
                        &req.uri,
                        req.uri.path(),
                        query.as_deref(),
                    )?;
                    req.set_uri(uri);
                }
            },
            Verifier::Basic(_) | Verifier::Jwt(_) => {
                req.remove_header(&AUTHORIZATION);
            }
        }
        Ok(())
    }

    /// The 401 for a failure.
    fn rejection(&self, reason: Reason) -> ErrorResponse {
        ErrorResponse::new(401).header(WWW_AUTHENTICATE, self.challenges[reason as usize].clone())
    }
}

/// The identity a background revalidation without a credential carries.
fn carried_identity(req: &RequestHeader) -> Option<Arc<str>> {
    let value = req.headers.get(IDENTITY_CARRIER)?.to_str().ok()?;
    (!value.is_empty()).then(|| Arc::from(value))
}

/// `request_filter`: authenticates the request for `auth`. On success
/// returns the identity, with the credential stripped (unless
/// `strip: false`) and the identity written to [`IDENTITY_CARRIER`]; on
/// failure the failure is counted and the 401 to send is returned.
/// Background revalidations without a credential take the identity the
/// client's request carried (see the module docs).
pub(crate) async fn authenticate(
    session: &mut Session,
    auth: &RouteAuth,
) -> Result<String, ErrorResponse> {
    let background = crate::cache::is_background(session);
    let identity = match auth.verify(session.req_header()).await {
        Ok(identity) => identity,
        Err(Reason::Missing) if background => {
            carried_identity(session.req_header()).ok_or_else(|| auth.rejection(Reason::Missing))?
        }
        Err(reason) => {
            if !background {
                auth.failures.count(reason);
            }
            return Err(auth.rejection(reason));
        }
    };
    let req = session.req_header_mut();
    let edited = (if auth.strip {
        auth.strip_credential(req)
    } else {
        Ok(())
    })
    .and_then(|()| req.insert_header(IDENTITY_CARRIER, &*identity));
    if let Err(e) = edited {
        // Identities are validated header values; this is not expected.
        log::warn!("could not edit an authenticated request: {e}");
        return Err(ErrorResponse::new(500));
    }
    Ok(identity.to_string())
}

/// `upstream_request_filter`: drops [`IDENTITY_CARRIER`] and, on a route
/// with `forward_as`, sends the identity in that header (replacing what
/// the client sent).
pub(crate) fn to_upstream(
    auth: Option<&RouteAuth>,
    identity: Option<&str>,
    upstream: &mut RequestHeader,
) -> pingora::Result<()> {
    upstream.remove_header(IDENTITY_CARRIER);
    if let Some(name) = auth.and_then(|a| a.forward_as.as_ref()) {
        upstream.remove_header(name);
        if let Some(identity) = identity {
            upstream.insert_header(name.clone(), identity)?;
        }
    }
    Ok(())
}
