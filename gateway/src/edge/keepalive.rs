//! The HTTP/1.x keep-alive loop of the proxy listeners.
//!
//! Pingora's own loop (its `ServerApp` for every `HttpServerApp`) starts the
//! next request as soon as a response is done: the request's boxed future
//! (sized for the whole proxy and cache path) and a 4 KiB header buffer are
//! allocated and held for as long as the client stays idle. [`serve`] runs
//! the same sessions but, between requests, holds only the stream: it waits
//! for the first byte of the next request (within the keep-alive timeout,
//! ending early when the service shuts down) and hands that byte to the new
//! session as its pipelined prefix, which Pingora parses first.
//!
//! It waits only when the previous session cannot hold bytes of the next
//! request: [`HeaderDeadline::nothing_read_ahead`] on a connection whose
//! every session began from the stream or from this loop's own byte. Once a
//! session may have read ahead (a request body, pipelining), the connection
//! goes on as Pingora's loop would, starting each session at once.
//!
//! HTTP/2 (`h2` by ALPN, the h2c preface on an `h2c` listener) goes to
//! Pingora's loop unchanged.

use crate::edge::header_timeout::HeaderDeadline;
use bytes::BytesMut;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::server::ShutdownWatch;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The capacity Pingora gives a request header buffer.
const HEADER_BUFFER: usize = 4096;

/// Pingora's keep-alive timeout for a connection's first session; the
/// gateway sets its own on each request (`gateway.downstream`).
const INITIAL_KEEPALIVE_SECS: u64 = 60;

/// A session being served, as Pingora's app returns it.
type Session<'a> = Pin<Box<dyn Future<Output = Option<ReusedHttpStream>> + Send + 'a>>;

/// How an idle connection waits for its next request.
pub(crate) struct IdleWait {
    /// How long an idle connection is kept.
    pub timeout: Duration,
    /// Becomes `true` when the service stops serving idle connections.
    pub closing: watch::Receiver<bool>,
}

/// Serves a client connection's requests with `app`.
pub(crate) async fn serve<A>(
    app: &Arc<A>,
    mut stream: Stream,
    shutdown: &ShutdownWatch,
    mut idle: IdleWait,
) -> Option<Stream>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    if !speaks_http1(app, &mut stream).await? {
        return ServerApp::process_new(app, stream, shutdown).await;
    }
    let mut result = first_session(app, stream, shutdown).await;
    let mut wait_idle = true;
    while let Some(reused) = result {
        let (mut stream, settings) = reused.consume();
        wait_idle = wait_idle && nothing_read_ahead(&stream);
        let first = if wait_idle {
            Some(next_request_start(&mut stream, &mut idle).await?)
        } else {
            None
        };
        result = next_session(app, stream, settings, first, shutdown).await;
    }
    None
}

/// The boxed future of a connection's first session. Sessions are built
/// outside `serve`'s own state so that it stays small while idle.
fn first_session<'a, A>(app: &'a Arc<A>, stream: Stream, shutdown: &'a ShutdownWatch) -> Session<'a>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    let mut session = ServerSession::new_http1(stream);
    session.set_keepalive((!*shutdown.borrow()).then_some(INITIAL_KEEPALIVE_SECS));
    session.set_keepalive_reuses_remaining(
        app.server_options()
            .and_then(|options| options.keepalive_request_limit),
    );
    app.process_new_http(session, shutdown)
}

/// The boxed future of a kept-alive connection's next session, starting
/// with `first` when the loop waited for it.
fn next_session<'a, A>(
    app: &'a Arc<A>,
    stream: Stream,
    settings: Option<HttpPersistentSettings>,
    first: Option<BytesMut>,
    shutdown: &'a ShutdownWatch,
) -> Session<'a>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    let mut session = ServerSession::new_http1(stream);
    if let Some(settings) = settings {
        settings.apply_to_session(&mut session);
    }
    if let Some(first) = first {
        session.set_pipelined_prefix(first);
    }
    app.process_new_http(session, shutdown)
}

/// False for what Pingora serves as HTTP/2 or as a custom protocol; `None`
/// when the connection failed while peeking for the h2c preface.
async fn speaks_http1<A: HttpServerApp>(app: &Arc<A>, stream: &mut Stream) -> Option<bool> {
    let options = app.server_options();
    if options.is_some_and(|o| o.force_custom)
        || matches!(
            stream.selected_alpn_proto(),
            Some(ALPN::H2 | ALPN::Custom(_))
        )
    {
        return Some(false);
    }
    if options.is_some_and(|o| o.h2c) && stream.get_ssl_digest().is_none() {
        let mut start = [0u8; 16];
        let peeked = stream.try_peek(&mut start).await.ok()?;
        // Like Pingora, a stream that cannot peek is taken for HTTP/2.
        if !peeked || start[..] == H2_PREFACE[..16] {
            return Some(false);
        }
    }
    Some(true)
}

fn nothing_read_ahead(stream: &Stream) -> bool {
    stream
        .as_any()
        .downcast_ref::<HeaderDeadline>()
        .is_some_and(HeaderDeadline::nothing_read_ahead)
}

/// Waits for the first byte of the next request and returns it in a header
/// buffer; `None` when the client closes, the timeout passes or the service
/// is closing.
async fn next_request_start(stream: &mut Stream, idle: &mut IdleWait) -> Option<BytesMut> {
    if *idle.closing.borrow() {
        return None;
    }
    let mut byte = [0u8; 1];
    let read = tokio::select! {
        biased;
        read = stream.read(&mut byte) => read,
        _ = tokio::time::sleep(idle.timeout) => return None,
        _ = idle.closing.wait_for(|closing| *closing) => return None,
    };
    match read {
        Ok(1) => {
            let mut buffer = BytesMut::with_capacity(HEADER_BUFFER);
            buffer.extend_from_slice(&byte);
            Some(buffer)
        }
        _ => None,
    }
}
