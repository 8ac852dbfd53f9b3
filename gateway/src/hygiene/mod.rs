//! Stage 2, request hygiene (`early_request_filter`, before routing): the
//! request id ([`request_id`]), the `gateway.downstream` policy compiled
//! per generation: size limits (414/431) and HTTP/1.x session settings
//! ([`downstream`]), RFC 9112 request-target rules ([`request_target`])
//! and path normalisation ([`normalize`]), so every later stage and the
//! upstream see one canonical request. [`prepare`] runs the checks in
//! order.

pub(crate) mod downstream;
pub(crate) mod normalize;
pub(crate) mod request_id;
pub(crate) mod request_target;

use downstream::Downstream;
use pingora::http::RequestHeader;
use std::borrow::Cow;

/// Checks and canonicalises a request before routing, in order: size
/// limits (414, 431), request-target rules (400), path normalisation
/// (400; a path that changes is rewritten in place, query kept).
/// `Ok(Some(status))` refuses the request; `Err` when the normalised path
/// does not form a valid URI.
pub(crate) fn prepare(
    req: &mut RequestHeader,
    downstream: &Downstream,
) -> pingora::Result<Option<u16>> {
    if let Err(exceeded) = downstream.check_limits(req) {
        return Ok(Some(exceeded.status()));
    }
    if let Err(status) = request_target::canonicalize(req) {
        return Ok(Some(status));
    }
    match normalize::normalize_path(req.uri.path(), &downstream.path) {
        Ok(Cow::Borrowed(_)) => {}
        Ok(Cow::Owned(path)) => {
            let uri = request_target::with_path_and_query(&req.uri, &path, req.uri.query())?;
            req.set_uri(uri);
        }
        Err(rejection) => {
            log::debug!("request refused: {rejection}");
            return Ok(Some(400));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str) -> RequestHeader {
        let mut req = RequestHeader::build("GET", target.as_bytes(), None).unwrap();
        req.insert_header("host", "a").unwrap();
        req
    }

    #[test]
    fn refuses_in_order_and_normalises_the_path() {
        let d = Downstream::default();
        let mut req = request("/a/./b/../c?q=1");
        assert_eq!(prepare(&mut req, &d).unwrap(), None);
        assert_eq!(req.uri.to_string(), "/a/c?q=1");
        assert_eq!(prepare(&mut request("/../x"), &d).unwrap(), Some(400));
        let mut no_host = RequestHeader::build("GET", b"/", None).unwrap();
        assert_eq!(prepare(&mut no_host, &d).unwrap(), Some(400));
        let small = Downstream::new(&crate::config::DownstreamConfig {
            max_uri_bytes: crate::config::ByteSize(32),
            ..Default::default()
        });
        let long = format!("/{}", "x".repeat(32));
        assert_eq!(prepare(&mut request(&long), &small).unwrap(), Some(414));
    }
}
