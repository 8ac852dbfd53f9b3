//! `reset_body`: a `Content-Length` larger than the body, part of the body,
//! then a TCP RST.

use super::raw::read_request_head;
use super::{Behaviour, MockContext};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Promises `declared` bytes, sends `body`, then resets the connection.
#[derive(Debug, Clone)]
pub struct ResetBody {
    /// The `Content-Length` sent.
    pub declared: usize,
    /// The bytes actually sent (fewer than `declared`).
    pub body: String,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
}

#[async_trait]
impl Behaviour for ResetBody {
    async fn serve(self: Arc<Self>, mut stream: TcpStream, ctx: Arc<MockContext>) {
        if !read_request_head(&mut stream).await {
            return;
        }
        ctx.count_hit();
        let mut head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nx-upstream: {}\r\n",
            self.declared, ctx.name
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(self.body.as_bytes()).await;
        let _ = stream.flush().await;
        // SO_LINGER 0 makes close() send RST instead of FIN.
        let _ = stream.set_zero_linger();
        drop(stream);
    }
}
