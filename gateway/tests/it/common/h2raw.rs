//! Hand-written HTTP/2 frames over TCP (h2c with prior knowledge), for the
//! abuse that well-behaved clients cannot send: rapid resets, CONTINUATION
//! floods, stream floods and oversized header lists. A background reader
//! drains and classifies everything the server sends, so the server's
//! writes never block the attack.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// The client connection preface.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types.
pub(crate) const DATA: u8 = 0x0;
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const RST_STREAM: u8 = 0x3;
pub(crate) const SETTINGS: u8 = 0x4;
pub(crate) const GOAWAY: u8 = 0x7;
pub(crate) const CONTINUATION: u8 = 0x9;

/// Flags.
pub(crate) const END_STREAM: u8 = 0x1;
pub(crate) const ACK: u8 = 0x1;
pub(crate) const END_HEADERS: u8 = 0x4;

/// Error codes.
pub(crate) const CANCEL: u32 = 0x8;
pub(crate) const REFUSED_STREAM: u32 = 0x7;

/// SETTINGS_MAX_CONCURRENT_STREAMS.
pub(crate) const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;

/// One frame: header fields and payload.
pub(crate) fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    assert!(len < 1 << 24, "frame payload too long");
    let mut out = Vec::with_capacity(9 + len);
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// RST_STREAM with `code`.
pub(crate) fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1).
fn hpack_int(out: &mut Vec<u8>, n: u8, flags: u8, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(flags | v as u8);
        return;
    }
    out.push(flags | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128 + 128) as u8);
        v /= 128;
    }
    out.push(v as u8);
}

/// A literal header field without indexing, new name, no Huffman coding.
pub(crate) fn literal(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.push(0x00);
    hpack_int(out, 7, 0, name.len());
    out.extend_from_slice(name.as_bytes());
    hpack_int(out, 7, 0, value.len());
    out.extend_from_slice(value);
}

/// The header block of a request.
pub(crate) fn request_block(method: &str, path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    literal(&mut out, ":method", method.as_bytes());
    literal(&mut out, ":scheme", b"http");
    literal(&mut out, ":path", path.as_bytes());
    literal(&mut out, ":authority", b"main.test");
    out
}

/// What the server sent on one connection.
#[derive(Debug, Default, Clone)]
pub(crate) struct Seen {
    /// Server SETTINGS (identifier, value), first frame.
    pub(crate) settings: Vec<(u16, u32)>,
    /// Streams that got a HEADERS frame (a response).
    pub(crate) responses: Vec<u32>,
    /// RST_STREAM frames: (stream, error code).
    pub(crate) resets: Vec<(u32, u32)>,
    /// GOAWAY error code, if one came.
    pub(crate) goaway: Option<u32>,
    /// The server closed the connection.
    pub(crate) closed: bool,
}

impl Seen {
    /// An advertised setting.
    pub(crate) fn setting(&self, id: u16) -> Option<u32> {
        self.settings
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| *v)
    }

    /// RST_STREAM frames with `code`.
    pub(crate) fn resets_with(&self, code: u32) -> usize {
        self.resets.iter().filter(|(_, c)| *c == code).count()
    }
}

/// An h2c connection past the preface and SETTINGS exchange.
pub(crate) struct H2Conn {
    /// Where frames are written.
    pub(crate) writer: OwnedWriteHalf,
    /// The server's initial SETTINGS.
    pub(crate) settings: Vec<(u16, u32)>,
    reader: JoinHandle<Seen>,
}

impl H2Conn {
    /// Connects, sends the preface and empty SETTINGS, waits (bounded) for
    /// the server's SETTINGS and acknowledges them; then a background task
    /// reads every frame until the connection closes or `read_for` passes.
    pub(crate) async fn open(addr: SocketAddr, read_for: Duration) -> Self {
        let mut stream = TcpStream::connect(addr).await.expect("connecting");
        stream.set_nodelay(true).expect("nodelay");
        stream.write_all(PREFACE).await.expect("preface");
        stream
            .write_all(&frame(SETTINGS, 0, 0, &[]))
            .await
            .expect("settings");
        let mut buf = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let settings = loop {
            if let Some((kind, flags, _, payload, used)) = parse_frame(&buf) {
                let payload = payload.to_vec();
                buf.drain(..used);
                if kind == SETTINGS && flags & ACK == 0 {
                    break payload
                        .chunks_exact(6)
                        .map(|c| {
                            (
                                u16::from_be_bytes([c[0], c[1]]),
                                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                            )
                        })
                        .collect::<Vec<_>>();
                }
                continue;
            }
            let mut chunk = [0u8; 4096];
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                other => panic!("no SETTINGS from the server: {other:?}"),
            }
        };
        stream
            .write_all(&frame(SETTINGS, ACK, 0, &[]))
            .await
            .expect("settings ack");
        let (mut read, writer) = stream.into_split();
        let first = settings.clone();
        let reader = tokio::spawn(async move {
            let mut seen = Seen {
                settings: first,
                ..Seen::default()
            };
            let deadline = Instant::now() + read_for;
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                while let Some((kind, _, stream, payload, used)) = parse_frame(&buf) {
                    match kind {
                        HEADERS => seen.responses.push(stream),
                        RST_STREAM if payload.len() == 4 => seen.resets.push((
                            stream,
                            u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]),
                        )),
                        GOAWAY if payload.len() >= 8 => {
                            seen.goaway = Some(u32::from_be_bytes([
                                payload[4], payload[5], payload[6], payload[7],
                            ]))
                        }
                        _ => {}
                    }
                    buf.drain(..used);
                }
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, read.read(&mut chunk)).await {
                    Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    Ok(_) => {
                        seen.closed = true;
                        return seen;
                    }
                    Err(_) => return seen,
                }
            }
        });
        H2Conn {
            writer,
            settings,
            reader,
        }
    }

    /// Writes bytes; false once the server has closed the connection.
    pub(crate) async fn send(&mut self, bytes: &[u8]) -> bool {
        self.writer.write_all(bytes).await.is_ok()
    }

    /// Waits for the reader to finish (connection closed or its deadline).
    pub(crate) async fn finish(self) -> Seen {
        self.reader.await.expect("frame reader")
    }

    /// Closes our side, then waits for the reader.
    pub(crate) async fn close(mut self) -> Seen {
        let _ = self.writer.shutdown().await;
        self.finish().await
    }
}

/// Parses one frame at the start of `buf`.
fn parse_frame(buf: &[u8]) -> Option<(u8, u8, u32, &[u8], usize)> {
    if buf.len() < 9 {
        return None;
    }
    let len = (buf[0] as usize) << 16 | (buf[1] as usize) << 8 | buf[2] as usize;
    if buf.len() < 9 + len {
        return None;
    }
    let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
    Some((buf[3], buf[4], stream, &buf[9..9 + len], 9 + len))
}

/// The resident set size of process `pid` in KiB (`VmRSS`), and its peak
/// (`VmHWM`).
pub(crate) fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
