//! `websocket`: a WebSocket echo server (tokio-tungstenite). Each accepted
//! handshake counts as a hit and as in flight until the connection ends;
//! text and binary messages come back unchanged, in order.

use super::{Behaviour, MockContext};
use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Echoes every WebSocket message on every connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebSocketEcho;

#[async_trait]
impl Behaviour for WebSocketEcho {
    async fn serve(self: Arc<Self>, stream: TcpStream, ctx: Arc<MockContext>) {
        let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        ctx.count_hit();
        let _open = ctx.enter();
        while let Some(Ok(message)) = socket.next().await {
            let reply = match message {
                Message::Text(_) | Message::Binary(_) => message,
                // tungstenite answers pings and close frames itself.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                Message::Close(_) => break,
            };
            if socket.send(reply).await.is_err() {
                break;
            }
        }
    }
}
