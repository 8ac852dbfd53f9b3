//! A raw-TCP upstream that records exactly what the gateway sent it: every
//! request it could frame (line, headers, body), every byte, and any bytes it
//! could not frame. Hostile-client tests assert on it that nothing was
//! smuggled past the gateway.
//!
//! Framing is strict on purpose: a request carrying both `Content-Length` and
//! `Transfer-Encoding`, or two `Content-Length` fields, is recorded as a
//! framing violation, because a real upstream could read it differently from
//! the gateway.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The body the recorder answers every request with (its `x-target` header
/// echoes the request target, so pipelined responses can be told apart).
pub(crate) const RECORDER_BODY: &str = "recorded";

/// One request as it arrived at the upstream.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// `METHOD TARGET VERSION`.
    pub(crate) line: String,
    /// Header fields in arrival order, names lower-cased.
    pub(crate) headers: Vec<(String, String)>,
    /// The decoded body.
    pub(crate) body: Vec<u8>,
}

impl Recorded {
    /// The request target (`/path?query`).
    pub(crate) fn target(&self) -> &str {
        self.line.split(' ').nth(1).unwrap_or("")
    }

    /// The first value of a header.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct Log {
    requests: Vec<Recorded>,
    /// Request lines whose header section arrived, body complete or not.
    started: Vec<String>,
    connections: usize,
    bytes: usize,
    /// Bytes left over that did not form a complete request (per connection).
    unframed: Vec<Vec<u8>>,
    violations: Vec<String>,
}

/// A running recorder; stops when dropped.
pub(crate) struct Recorder {
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Listens on an ephemeral loopback port.
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the recorder");
        let addr = listener.local_addr().expect("recorder address");
        let log = Arc::new(Mutex::new(Log::default()));
        let shared = log.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                lock(&shared).connections += 1;
                tokio::spawn(serve(stream, shared.clone()));
            }
        });
        Recorder { addr, log, accept }
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Complete requests received so far, in arrival order.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        lock(&self.log).requests.clone()
    }

    /// Request targets received so far.
    pub(crate) fn targets(&self) -> Vec<String> {
        lock(&self.log)
            .requests
            .iter()
            .map(|r| r.target().to_string())
            .collect()
    }

    /// Request lines of every request whose header section arrived, in
    /// arrival order, including requests whose body never completed.
    pub(crate) fn started(&self) -> Vec<String> {
        lock(&self.log).started.clone()
    }

    /// Connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        lock(&self.log).connections
    }

    /// Bytes received so far.
    pub(crate) fn bytes(&self) -> usize {
        lock(&self.log).bytes
    }

    /// Bytes that never became a complete request, one entry per connection
    /// that ended with some.
    pub(crate) fn unframed(&self) -> Vec<String> {
        lock(&self.log)
            .unframed
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    /// Requests whose framing a real upstream could read differently.
    pub(crate) fn violations(&self) -> Vec<String> {
        lock(&self.log).violations.clone()
    }

    /// A one-line summary for assertion messages.
    pub(crate) fn summary(&self) -> String {
        let log = lock(&self.log);
        format!(
            "targets={:?} connections={} bytes={} unframed={:?} violations={:?}",
            log.requests
                .iter()
                .map(Recorded::target)
                .collect::<Vec<_>>(),
            log.connections,
            log.bytes,
            log.unframed
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect::<Vec<_>>(),
            log.violations
        )
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn lock(log: &Mutex<Log>) -> std::sync::MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long a connection may sit idle in the middle of a request.
const IDLE: Duration = Duration::from_secs(10);

async fn serve(mut stream: TcpStream, log: Arc<Mutex<Log>>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    // Whether the head at the start of `buf` was already noted as started.
    let mut noted = false;
    loop {
        // Frame as many complete requests as the buffer holds.
        loop {
            if !noted {
                if let Some(end) = find(&buf, b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]);
                    let line = head.split("\r\n").next().unwrap_or("").to_string();
                    lock(&log).started.push(line);
                    noted = true;
                }
            }
            match frame(&buf) {
                Framed::Complete(req, used, violation) => {
                    buf.drain(..used);
                    noted = false;
                    let target = req.target().to_string();
                    {
                        let mut l = lock(&log);
                        if let Some(v) = violation {
                            l.violations.push(format!("{}: {v}", req.line));
                        }
                        l.requests.push(req);
                    }
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-upstream: recorder\r\nx-target: {target}\r\n\r\n{RECORDER_BODY}",
                        RECORDER_BODY.len()
                    );
                    if stream.write_all(resp.as_bytes()).await.is_err() {
                        return finish(&log, buf);
                    }
                }
                Framed::Partial => break,
                Framed::Invalid(why) => {
                    lock(&log).violations.push(why);
                    return finish(&log, buf);
                }
            }
        }
        match tokio::time::timeout(IDLE, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return finish(&log, buf),
            Ok(Ok(n)) => {
                lock(&log).bytes += n;
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

fn finish(log: &Mutex<Log>, rest: Vec<u8>) {
    if !rest.is_empty() {
        lock(log).unframed.push(rest);
    }
}

enum Framed {
    Complete(Recorded, usize, Option<String>),
    Partial,
    Invalid(String),
}

/// Frames one request at the start of `buf`.
fn frame(buf: &[u8]) -> Framed {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return Framed::Partial;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for l in lines {
        match l.split_once(':') {
            Some((n, v)) => headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string())),
            None => return Framed::Invalid(format!("header line without a colon: {l:?}")),
        }
    }
    let lengths: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .map(|(_, v)| v.as_str())
        .collect();
    let te: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n == "transfer-encoding")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut violation = None;
    if !lengths.is_empty() && !te.is_empty() {
        violation = Some("both Content-Length and Transfer-Encoding".to_string());
    } else if lengths.len() > 1 {
        violation = Some(format!("several Content-Length fields {lengths:?}"));
    } else if te.len() > 1 || te.iter().any(|v| !v.eq_ignore_ascii_case("chunked")) {
        violation = Some(format!("Transfer-Encoding {te:?}"));
    }
    let body_start = head_end + 4;
    let (body, used) = if !te.is_empty() {
        match dechunk(&buf[body_start..]) {
            Some(Ok((body, n))) => (body, body_start + n),
            Some(Err(e)) => return Framed::Invalid(format!("{line}: {e}")),
            None => return Framed::Partial,
        }
    } else if let Some(len) = lengths.first() {
        let Ok(len) = len.parse::<usize>() else {
            return Framed::Invalid(format!("{line}: Content-Length {len:?}"));
        };
        if buf.len() < body_start + len {
            return Framed::Partial;
        }
        (buf[body_start..body_start + len].to_vec(), body_start + len)
    } else {
        (Vec::new(), body_start)
    };
    Framed::Complete(
        Recorded {
            line,
            headers,
            body,
        },
        used,
        violation,
    )
}

/// Decodes a chunked body; `None` while incomplete.
fn dechunk(buf: &[u8]) -> Option<Result<(Vec<u8>, usize), String>> {
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let line_end = pos + find(&buf[pos..], b"\r\n")?;
        let size_text = String::from_utf8_lossy(&buf[pos..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return Some(Err(format!("chunk size {size_text:?}")));
        };
        pos = line_end + 2;
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                let end = pos + find(&buf[pos..], b"\r\n")?;
                let empty = end == pos;
                pos = end + 2;
                if empty {
                    return Some(Ok((body, pos)));
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return None;
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        pos += size + 2;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
