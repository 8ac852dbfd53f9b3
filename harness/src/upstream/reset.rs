//! `reset`: accept the connection, then close it with a TCP RST.

use super::{Behaviour, MockContext};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::net::TcpStream;

/// Resets every connection; counts each as a hit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reset;

#[async_trait]
impl Behaviour for Reset {
    async fn serve(self: Arc<Self>, stream: TcpStream, ctx: Arc<MockContext>) {
        ctx.count_hit();
        // SO_LINGER 0 makes close() send RST instead of FIN.
        let _ = stream.set_zero_linger();
        drop(stream);
    }
}
