//! Purging: the `PURGE` method on a caching route (from `purge.allow`
//! networks) and the admin `POST /cache/purge`. Both remove every stored
//! variant of the matching URLs.

use super::key::bare_host;
use super::metrics::CACHE_METRICS;
use super::{shared, RouteCache};
use crate::hygiene::request_target::host as request_host;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;
use serde::Deserialize;
use std::net::IpAddr;

/// Statuses and metric result of a purge.
fn outcome(removed: usize) -> (u16, &'static str) {
    if removed > 0 {
        (200, "purged")
    } else {
        (404, "not_found")
    }
}

/// Removes the entries of `host` + exact `path_and_query`.
pub(crate) fn purge_url(host: &str, path_and_query: &str) -> usize {
    let host = bare_host(host);
    let s = shared();
    s.storage.purge_matching(s.eviction, |h, p| {
        h == host.as_bytes() && p == path_and_query.as_bytes()
    })
}

/// Removes the entries whose path (and query) starts with `prefix`, on
/// `host` only when given.
pub(crate) fn purge_prefix(host: Option<&str>, prefix: &str) -> usize {
    let host = host.map(bare_host);
    let s = shared();
    s.storage.purge_matching(s.eviction, |h, p| {
        host.as_ref().is_none_or(|host| h == host.as_bytes()) && p.starts_with(prefix.as_bytes())
    })
}

async fn answer(session: &mut Session, status: u16, body: &str) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(4))?;
    resp.insert_header(CONTENT_TYPE, "application/json")?;
    resp.insert_header(CONTENT_LENGTH, body.len().to_string())?;
    resp.insert_header(CACHE_CONTROL, "no-store")?;
    session.write_response_header(Box::new(resp), false).await?;
    session
        .write_response_body(Some(bytes::Bytes::copy_from_slice(body.as_bytes())), true)
        .await
}

/// `request_filter`: answers a `PURGE` request (200 purged, 404 nothing
/// stored, 403 client not in `purge.allow`, 405 the route does not cache).
/// Returns whether it answered.
pub(crate) async fn answer_purge_method(
    session: &mut Session,
    route: Option<&RouteCache>,
    client: Option<IpAddr>,
) -> Result<bool> {
    if session.req_header().method.as_str() != "PURGE" {
        return Ok(false);
    }
    let Some(route) = route else {
        answer(session, 405, r#"{"error":"this route does not cache"}"#).await?;
        return Ok(true);
    };
    let allowed = client.is_some_and(|ip| route.purge_allow.iter().any(|c| c.contains(ip)));
    if !allowed {
        CACHE_METRICS.purges.with_label_values(&["forbidden"]).inc();
        answer(
            session,
            403,
            r#"{"error":"purge is not allowed from this address"}"#,
        )
        .await?;
        return Ok(true);
    }
    let req = session.req_header();
    let path_and_query = req
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let removed = purge_url(request_host(req), &path_and_query);
    let (status, result) = outcome(removed);
    CACHE_METRICS.purges.with_label_values(&[result]).inc();
    let body = serde_json::json!({ "purged": removed }).to_string();
    answer(session, status, &body).await?;
    Ok(true)
}

/// Body of `POST /cache/purge`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminPurge {
    host: Option<String>,
    path: Option<String>,
    prefix: Option<String>,
}

/// `POST /cache/purge` with `{"host","path"}` (one URL) or `{"prefix"}`
/// (optionally with `host`): status and JSON body.
pub(crate) fn admin_purge(body: &[u8]) -> (u16, serde_json::Value) {
    let req: AdminPurge = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return (
                400,
                serde_json::json!({ "error": format!("expected {{\"host\",\"path\"}} or {{\"prefix\"}}: {e}") }),
            )
        }
    };
    let removed = match (
        req.host.as_deref(),
        req.path.as_deref(),
        req.prefix.as_deref(),
    ) {
        (Some(host), Some(path), None) => purge_url(host, path),
        (host, None, Some(prefix)) => purge_prefix(host, prefix),
        _ => {
            return (
                400,
                serde_json::json!({ "error": "expected {\"host\",\"path\"} or {\"prefix\"}" }),
            )
        }
    };
    let (status, result) = outcome(removed);
    CACHE_METRICS.purges.with_label_values(&[result]).inc();
    (status, serde_json::json!({ "purged": removed }))
}
