//! `gateway.downstream.read_header_timeout`: a bound on the time between the
//! first byte of an HTTP/1.x request and the end of its header.
//!
//! Pingora only times out individual reads (60 s each), so a client that
//! trickles one header byte at a time can hold a connection forever
//! (slowloris). [`HeaderDeadline`] wraps a client connection's stream and
//! watches the bytes it reads:
//!
//! - idle: the first byte read starts the clock;
//! - header: reading fails with `TimedOut` once the deadline passes; the
//!   blank line that ends the header (`\r\n\r\n`, or `\n\n`) stops the clock;
//! - body: no clock (body pacing is the read timeout's job) until the
//!   gateway writes a final response (`HTTP/1.x` with a status of 200 or
//!   more), after which the connection is idle again.
//!
//! Connections that speak HTTP/2 (the h2c preface, or `h2` by ALPN) are
//! passed through untouched: their framing has no header blank line.
//!
//! The same watch tells the keep-alive loop ([`crate::edge::keepalive`]) whether
//! the session that just ended can have read bytes it did not use (a
//! pipelined request): only when the request's reads ended exactly at its
//! header's blank line and nothing was read after it
//! ([`HeaderDeadline::nothing_read_ahead`]).

use async_trait::async_trait;
use pingora::protocols::{raw_connect::ProxyDigest, tls::SslDigest, tls::TlsRef, Stream};
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

enum Phase {
    /// Waiting for the first byte of a request.
    Idle,
    /// Inside a request header; `tail` holds the last bytes seen.
    Header { tail: u32 },
    /// The header ended; waiting for the response.
    Body,
    /// Not HTTP/1.x: nothing to watch.
    Off,
}

/// What the reads of the current request say about bytes read ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadAhead {
    /// The request's header end has not been seen yet.
    Pending,
    /// The header ended exactly at the end of a read, and nothing was read
    /// since: every byte read belongs to this request's header.
    None,
    /// Bytes past the header end were read (a body, or a pipelined
    /// request): the session may hold some for the next request.
    Possible,
}

/// A client stream whose request headers must arrive within a deadline.
pub(crate) struct HeaderDeadline {
    inner: Stream,
    timeout: Duration,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    fresh: bool,
    read_ahead: ReadAhead,
}

impl std::fmt::Debug for HeaderDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderDeadline")
            .field("inner", &self.inner)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HeaderDeadline {
    /// Wraps `inner`; a stream that negotiated h2 by ALPN is returned as is.
    pub(crate) fn wrap(inner: Stream, timeout: Duration) -> Stream {
        if inner.selected_alpn_proto() == Some(ALPN::H2) {
            return inner;
        }
        Box::new(HeaderDeadline {
            inner,
            timeout,
            phase: Phase::Idle,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            fresh: true,
            read_ahead: ReadAhead::Pending,
        })
    }

    /// True when a final response has been written and every byte read
    /// since the request began was its header, ending at the last byte
    /// read: a session on this stream holds nothing for a next request.
    pub(crate) fn nothing_read_ahead(&self) -> bool {
        matches!(self.phase, Phase::Idle) && self.read_ahead == ReadAhead::None
    }

    /// Advances the phase over newly read bytes.
    fn observe_read(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if std::mem::take(&mut self.fresh) {
            let n = bytes.len().min(H2_PREFACE.len());
            if bytes[..n] == H2_PREFACE[..n] {
                self.phase = Phase::Off;
                return;
            }
        }
        let mut tail = match self.phase {
            Phase::Idle => {
                let at = Instant::now() + self.timeout;
                self.deadline.as_mut().reset(at);
                self.read_ahead = ReadAhead::Pending;
                0
            }
            Phase::Header { tail } => tail,
            Phase::Body => {
                self.read_ahead = ReadAhead::Possible;
                return;
            }
            Phase::Off => return,
        };
        for (i, &b) in bytes.iter().enumerate() {
            tail = tail << 8 | u32::from(b);
            if ends_header(tail) {
                self.phase = Phase::Body;
                self.read_ahead = match self.read_ahead {
                    ReadAhead::Pending if i + 1 == bytes.len() => ReadAhead::None,
                    _ => ReadAhead::Possible,
                };
                return;
            }
        }
        self.phase = Phase::Header { tail };
    }

    /// A final response header being written ends the request.
    fn observe_write(&mut self, bytes: &[u8]) {
        if matches!(self.phase, Phase::Body | Phase::Header { .. })
            && bytes.len() >= 12
            && bytes.starts_with(b"HTTP/1.")
            && bytes[9] != b'1'
        {
            self.phase = Phase::Idle;
        }
    }
}

/// A blank line as the header parser accepts it: `\n\n` or `\n\r\n`
/// (which `\r\n\r\n` ends with).
fn ends_header(tail: u32) -> bool {
    tail & 0xffff == 0x0a0a || tail & 0x00ff_ffff == 0x000a_0d0a
}

impl AsyncRead for HeaderDeadline {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if matches!(this.phase, Phase::Header { .. }) && this.deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request header not received within read_header_timeout",
            )));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            this.observe_read(&buf.filled()[before..]);
        }
        result
    }
}

impl AsyncWrite for HeaderDeadline {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result {
            this.observe_write(&buf[..n]);
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let (Poll::Ready(Ok(n)), Some(first)) = (&result, bufs.first()) {
            this.observe_write(&first[..(*n).min(first.len())]);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[async_trait]
impl Shutdown for HeaderDeadline {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for HeaderDeadline {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for HeaderDeadline {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for HeaderDeadline {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for HeaderDeadline {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for HeaderDeadline {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for HeaderDeadline {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watcher() -> HeaderDeadline {
        HeaderDeadline {
            inner: Box::new(tokio_test_stream()),
            timeout: Duration::from_secs(1),
            phase: Phase::Idle,
            deadline: Box::pin(tokio::time::sleep(Duration::from_secs(1))),
            fresh: true,
            read_ahead: ReadAhead::Pending,
        }
    }

    fn tokio_test_stream() -> std::io::Cursor<Vec<u8>> {
        std::io::Cursor::new(Vec::new())
    }

    #[tokio::test]
    async fn phases_follow_header_end_and_final_response() {
        let mut w = watcher();
        w.observe_read(b"GET / HTTP/1.1\r\nHost: a\r");
        assert!(matches!(w.phase, Phase::Header { .. }));
        w.observe_read(b"\n\r");
        assert!(matches!(w.phase, Phase::Header { .. }));
        w.observe_read(b"\nbody");
        assert!(matches!(w.phase, Phase::Body));
        w.observe_write(b"HTTP/1.1 100 Continue\r\n\r\n");
        assert!(matches!(w.phase, Phase::Body), "1xx keeps the request open");
        w.observe_write(b"HTTP/1.1 200 OK\r\n");
        assert!(matches!(w.phase, Phase::Idle));
        w.observe_read(b"GET / HTTP/1.1\n\n");
        assert!(matches!(w.phase, Phase::Body), "bare LF ends a header too");
    }

    #[tokio::test]
    async fn h2_prior_knowledge_is_not_watched() {
        let mut w = watcher();
        w.observe_read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert!(matches!(w.phase, Phase::Off));
        w.observe_read(b"\x00\x00\x12\x04");
        assert!(matches!(w.phase, Phase::Off));
    }

    #[tokio::test]
    async fn a_lone_lf_before_crlf_ends_a_header_too() {
        let mut w = watcher();
        w.observe_read(b"GET / HTTP/1.1\r\nHost: a\n\r\n");
        assert!(matches!(w.phase, Phase::Body));
    }

    #[tokio::test]
    async fn nothing_read_ahead_when_reads_end_at_the_header_end() {
        let mut w = watcher();
        assert!(!w.nothing_read_ahead(), "no request has ended yet");
        w.observe_read(b"G");
        w.observe_read(b"ET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(!w.nothing_read_ahead(), "no response yet");
        w.observe_write(b"HTTP/1.1 200 OK\r\n\r\n");
        assert!(w.nothing_read_ahead());
        // The next request, read the same way, keeps the answer.
        w.observe_read(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
        w.observe_write(b"HTTP/1.1 204 No Content\r\n\r\n");
        assert!(w.nothing_read_ahead());
    }

    #[tokio::test]
    async fn bytes_past_the_header_end_may_be_read_ahead() {
        // Pipelined: a second request in the read that ended the first.
        let mut w = watcher();
        w.observe_read(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n");
        w.observe_write(b"HTTP/1.1 200 OK\r\n\r\n");
        assert!(!w.nothing_read_ahead());

        // A body read after the header.
        let mut w = watcher();
        w.observe_read(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n");
        w.observe_read(b"hi");
        w.observe_write(b"HTTP/1.1 200 OK\r\n\r\n");
        assert!(!w.nothing_read_ahead());

        // A read after the response began: the next request started.
        let mut w = watcher();
        w.observe_read(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        w.observe_write(b"HTTP/1.1 200 OK\r\n\r\n");
        w.observe_read(b"GET /2");
        assert!(!w.nothing_read_ahead());
    }
}
