//! A minimal blocking HTTP/1.1 client: enough for warm-up GETs and for
//! leaving keep-alive connections idle.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Sends `GET path` on `stream` and reads the whole response; returns the
/// status. The connection stays open for reuse.
pub(super) fn get(stream: &mut TcpStream, path: &str) -> Result<u16, String> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: bench.local\r\n\r\n");
    stream
        .write_all(req.as_bytes())
        .map_err(|e| format!("sending: {e}"))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream
            .read(&mut chunk)
            .map_err(|e| format!("reading: {e}"))?;
        if n == 0 {
            return Err("connection closed before the response head".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {:?}", head.lines().next()))?;
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let body = &buf[head_end..];
        let done = match length {
            Some(n) => body.len() >= n,
            None if chunked => find(body, b"0\r\n\r\n").is_some(),
            None => false,
        };
        if done {
            return Ok(status);
        }
        let n = stream
            .read(&mut chunk)
            .map_err(|e| format!("reading the body: {e}"))?;
        if n == 0 {
            // Close-delimited body (or none): complete at EOF.
            return Ok(status);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Connects, retrying refused connections until `within` passes.
pub(super) fn connect(addr: SocketAddr, within: Duration) -> Result<TcpStream, String> {
    let deadline = Instant::now() + within;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(s) => {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("connecting to {addr}: {e}"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Waits until `addr` accepts, then one GET must get 200.
pub(super) fn warm_up(addr: SocketAddr, path: &str) -> Result<(), String> {
    let mut stream = connect(addr, Duration::from_secs(15))?;
    match get(&mut stream, path)? {
        200 => Ok(()),
        other => Err(format!("GET {path} answered {other}, expected 200")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Serves `responses` one after another on one accepted connection.
    fn serve(responses: &'static [&'static str]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            for r in responses {
                let _ = s.read(&mut buf);
                s.write_all(r.as_bytes()).unwrap();
            }
        });
        addr
    }

    #[test]
    fn reads_length_and_chunked_bodies_on_one_connection() {
        let addr = serve(&[
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nno\r\n0\r\n\r\n",
        ]);
        let mut s = connect(addr, Duration::from_secs(5)).unwrap();
        assert_eq!(get(&mut s, "/").unwrap(), 200);
        assert_eq!(get(&mut s, "/").unwrap(), 404);
    }
}
