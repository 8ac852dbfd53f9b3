//! `body_mismatch`: a `Content-Length` larger than the body, then close.

use super::raw::read_request_head;
use super::{Behaviour, MockContext};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
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
        if !read_request_head(&mut stream).await {
            return;
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
