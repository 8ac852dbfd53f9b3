//! Helpers for behaviours that write HTTP/1.1 by hand to break its framing.

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Reads one request head (up to the blank line). False when the client
/// closed first or sent more than 64 KiB without one.
pub(super) async fn read_request_head(stream: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return false;
        }
    }
    true
}
