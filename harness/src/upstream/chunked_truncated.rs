//! `chunked_truncated`: a chunked response whose body breaks off: the
//! chunks of the body are sent, then the connection closes without the
//! terminating zero-length chunk.

use super::raw::read_request_head;
use super::{Behaviour, MockContext};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Sends `body` as `chunks` chunks of `Transfer-Encoding: chunked` (e.g.
/// `a\r\nshort-body\r\n`), then closes without the last chunk.
#[derive(Debug, Clone)]
pub struct ChunkedTruncated {
    /// The bytes sent, all of them, before the connection closes.
    pub body: String,
    /// How many chunks they are split into (at least 1).
    pub chunks: usize,
}

impl ChunkedTruncated {
    /// The body framed as chunks, without the terminating chunk.
    fn framed(&self) -> Vec<u8> {
        let bytes = self.body.as_bytes();
        let size = bytes.len().div_ceil(self.chunks.max(1)).max(1);
        let mut out = Vec::new();
        for chunk in bytes.chunks(size) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out
    }
}

#[async_trait]
impl Behaviour for ChunkedTruncated {
    async fn serve(self: Arc<Self>, mut stream: TcpStream, ctx: Arc<MockContext>) {
        if !read_request_head(&mut stream).await {
            return;
        }
        ctx.count_hit();
        let head = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\nx-upstream: {}\r\n\r\n",
            ctx.name
        );
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&self.framed()).await;
        let _ = stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_the_body_without_the_last_chunk() {
        let one = ChunkedTruncated {
            body: "short-body".into(),
            chunks: 1,
        };
        assert_eq!(one.framed(), b"a\r\nshort-body\r\n");
        let two = ChunkedTruncated {
            body: "short-body".into(),
            chunks: 2,
        };
        assert_eq!(two.framed(), b"5\r\nshort\r\n5\r\n-body\r\n");
    }
}
