//! Answers to a request whose proxying failed (`fail_to_proxy`): the status
//! an error maps to, and how a response already under way is ended.

use pingora::proxy::Session;
use pingora::{Error, ErrorSource, ErrorType};

/// Scheduler turns given to an h2 connection to flush a stream's frames
/// before the stream is reset.
const H2_FLUSH_YIELDS: usize = 4;

/// The status the client gets for a proxy error; 0 when the client side
/// failed (there is no one to answer).
pub(crate) fn status_for(e: &Error) -> u16 {
    match e.etype() {
        ErrorType::HTTPStatus(code) => *code,
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => 504,
        _ => match e.esource() {
            ErrorSource::Upstream => 502,
            ErrorSource::Downstream => match e.etype() {
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                _ => 400,
            },
            ErrorSource::Internal | ErrorSource::Unset => 500,
        },
    }
}

/// An internal error (answered 500): a phase ran without what an earlier
/// phase guarantees, such as a route.
pub(crate) fn internal(context: &'static str) -> Box<Error> {
    Error::explain(ErrorType::InternalError, context)
}

/// Ends a response whose header already reached the client, after the
/// proxied exchange failed with `status` (see [`status_for`]).
///
/// `grpc_open`: the request is a gRPC call that has no status yet; over
/// HTTP/2 it is ended with trailers carrying `status` as a gRPC status, so
/// the client sees UNAVAILABLE or DEADLINE_EXCEEDED rather than a broken
/// stream. Returns whether it was (the caller records the call's status).
/// Anything else is ended as incomplete, since a second body would corrupt
/// the first: HTTP/1.1 closes without the final chunk or before
/// `Content-Length` is met, HTTP/2 resets the stream.
pub(crate) async fn end_started(session: &mut Session, grpc_open: bool, status: u16) -> bool {
    if grpc_open && status != 0 && session.as_http2().is_some() {
        let code = super::error::grpc_status(status);
        let mut trailers = http::HeaderMap::with_capacity(2);
        trailers.insert("grpc-status", u16::from(code).into());
        trailers.insert(
            "grpc-message",
            http::HeaderValue::from_static(super::page::reason(status)),
        );
        match session
            .downstream_session
            .write_response_trailers(trailers)
            .await
        {
            Ok(()) => return true,
            Err(e) => log::debug!("could not end the gRPC stream with trailers: {e}"),
        }
    }
    if session.as_http2().is_some() {
        // The h2 library drops a stream's queued frames when it is reset:
        // give the connection task a few turns to flush the head and body
        // already written (best effort; a client that gets only the reset
        // still sees a failed exchange).
        for _ in 0..H2_FLUSH_YIELDS {
            tokio::task::yield_now().await;
        }
    }
    session.downstream_session.shutdown().await;
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_map_to_504_and_upstream_errors_to_502() {
        let timeout = Error::explain(ErrorType::ReadTimedout, "t").into_up();
        assert_eq!(status_for(&timeout), 504);
        let refused = Error::explain(ErrorType::ConnectRefused, "r").into_up();
        assert_eq!(status_for(&refused), 502);
        let explicit = Error::explain(ErrorType::HTTPStatus(503), "none");
        assert_eq!(status_for(&explicit), 503);
        let closed = Error::explain(ErrorType::ConnectionClosed, "c").into_down();
        assert_eq!(status_for(&closed), 0);
        assert_eq!(status_for(&internal("no route")), 500);
    }
}
