//! `body_mismatch`: a `Content-Length` larger than the body, then close.

use super::{Behaviour, MockContext};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Promises `declared` bytes, sends `body`, closes the connection.
#[derive(Debug, Clone)]
pub struct BodyMismatch {
    /// The `Content-Length` sent.
    pub declared: usize,
    /// The bytes actually sent (fewer than `declared`).
    pub body: String,
}

#[async_trait]
impl Behaviour for BodyMismatch {
    async fn serve(self: Arc<Self>, mut stream: TcpStream, ctx: Arc<MockContext>) {
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
            if head.len() > 64 * 1024 {
                return;
            }
        }
        ctx.count_hit();
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nx-upstream: {}\r\n\r\n{}",
            self.declared, ctx.name, self.body
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
}
