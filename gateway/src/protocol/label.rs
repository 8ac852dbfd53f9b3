//! The `protocol` label of `gateway_requests_total`: what kind of exchange
//! a request was, as the client spoke it.

use crate::observe::metrics::Protocol;
use http::header::CONTENT_TYPE;
use pingora::proxy::Session;

/// gRPC requests carry `application/grpc`, `application/grpc+proto`, ...
const GRPC_CONTENT_TYPE: &[u8] = b"application/grpc";

/// The label of the request of `session`; HTTP/2 over a TLS connection
/// is `h2`, over plaintext `h2c`.
pub(crate) fn of(session: &Session) -> Protocol {
    let req = session.req_header();
    let tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
    let grpc = req
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| is_grpc(v.as_bytes()));
    classify(
        grpc,
        session.is_upgrade_req(),
        session.as_ref().is_http2(),
        tls,
    )
}

fn is_grpc(content_type: &[u8]) -> bool {
    content_type.len() >= GRPC_CONTENT_TYPE.len()
        && content_type[..GRPC_CONTENT_TYPE.len()].eq_ignore_ascii_case(GRPC_CONTENT_TYPE)
}

fn classify(grpc: bool, upgrade: bool, http2: bool, tls: bool) -> Protocol {
    match (grpc, upgrade, http2, tls) {
        (true, _, _, _) => Protocol::Grpc,
        (false, true, _, _) => Protocol::Websocket,
        (false, false, true, true) => Protocol::H2,
        (false, false, true, false) => Protocol::H2c,
        (false, false, false, _) => Protocol::Http1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_then_upgrade_then_the_http_version_decide() {
        assert_eq!(classify(true, false, true, false), Protocol::Grpc);
        assert_eq!(classify(false, true, false, true), Protocol::Websocket);
        assert_eq!(classify(false, false, true, true), Protocol::H2);
        assert_eq!(classify(false, false, true, false), Protocol::H2c);
        assert_eq!(classify(false, false, false, true), Protocol::Http1);
        assert!(is_grpc(b"application/grpc+proto"));
        assert!(is_grpc(b"Application/GRPC"));
        assert!(!is_grpc(b"application/json"));
        assert!(!is_grpc(b"application/grp"));
    }
}
