//! A raw HTTP/1.x client over TCP for sending what well-behaved clients
//! cannot: ambiguous framing, malformed header fields, pipelined bytes,
//! trickled headers. Every read has a deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any single exchange may take before the test fails.
pub(crate) const EXCHANGE_DEADLINE: Duration = Duration::from_secs(10);

/// One response as read off the wire.
#[derive(Debug, Clone)]
pub(crate) struct RawResponse {
    /// Status code.
    pub(crate) status: u16,
    /// Status line and header fields.
    pub(crate) head: String,
    /// The body (de-chunked).
    pub(crate) body: Vec<u8>,
}

impl RawResponse {
    /// The first value of a header (name case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A client connection.
pub(crate) struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl RawConn {
    /// Connects to `addr`.
    pub(crate) async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connecting");
        stream.set_nodelay(true).expect("nodelay");
        RawConn {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Writes `bytes`; false when the peer already closed the connection.
    pub(crate) async fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok() && self.stream.flush().await.is_ok()
    }

    /// Reads more bytes; false at end of stream, on an error, or at `deadline`.
    async fn fill(&mut self, deadline: Instant) -> bool {
        if self.eof {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Ok(_) => {
                self.eof = true;
                false
            }
            Err(_) => false,
        }
    }

    /// The next complete response, or `None` if the connection closed (or
    /// the deadline passed) first.
    pub(crate) async fn response(&mut self, within: Duration) -> Option<RawResponse> {
        let deadline = Instant::now() + within;
        loop {
            if let Some((resp, used)) = parse_response(&self.buf, self.eof) {
                self.buf.drain(..used);
                return Some(resp);
            }
            if !self.fill(deadline).await {
                return parse_response(&self.buf, true).map(|(resp, used)| {
                    self.buf.drain(..used);
                    resp
                });
            }
        }
    }

    /// Every response until the gateway closes the connection; the flag says
    /// whether it did close within `within`.
    pub(crate) async fn responses_until_close(
        &mut self,
        within: Duration,
    ) -> (Vec<RawResponse>, bool) {
        let deadline = Instant::now() + within;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.response(left).await {
                Some(r) => out.push(r),
                None => return (out, self.eof),
            }
        }
    }

    /// Waits until the peer closes the connection; false if it is still open
    /// at the deadline. Bytes read meanwhile are kept.
    pub(crate) async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while self.fill(deadline).await {}
        self.eof
    }

    /// Bytes received and not yet parsed as a response.
    pub(crate) fn pending(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }
}

/// Parses one response at the start of `buf`; `eof` allows a close-delimited
/// body.
fn parse_response(buf: &[u8], eof: bool) -> Option<(RawResponse, usize)> {
    let head_end = find(buf, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let start = head_end + 4;
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    let (body, used) = if no_body {
        (Vec::new(), start)
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut pos = start;
        let mut body = Vec::new();
        loop {
            let line_end = pos + find(&buf[pos..], b"\r\n")?;
            let size_text = String::from_utf8_lossy(&buf[pos..line_end]);
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            pos = line_end + 2;
            if size == 0 {
                let end = pos + find(&buf[pos..], b"\r\n")?;
                pos = end + 2;
                break;
            }
            if buf.len() < pos + size + 2 {
                return None;
            }
            body.extend_from_slice(&buf[pos..pos + size]);
            pos += size + 2;
        }
        (body, pos)
    } else if let Some(len) = header("content-length") {
        let len: usize = len.parse().ok()?;
        if buf.len() < start + len {
            return None;
        }
        (buf[start..start + len].to_vec(), start + len)
    } else if eof {
        (buf[start..].to_vec(), buf.len())
    } else {
        return None;
    };
    Some((RawResponse { status, head, body }, used))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
