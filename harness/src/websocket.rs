//! A WebSocket client for tests and the `websocket` scenario step: connect
//! through the gateway, exchange messages, and observe how a connection
//! ends. Every wait has a deadline.

use futures::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a single send, echo or handshake may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How a connection ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// A close frame arrived (code).
    CloseFrame(Option<u16>),
    /// The TCP connection closed without a close frame (FIN or reset).
    TcpClose,
}

/// An open WebSocket connection.
pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// Opens `ws://addr/path` (handshake within [`IO_TIMEOUT`]).
    pub async fn connect(addr: SocketAddr, path: &str) -> Result<Self, String> {
        let url = format!("ws://{addr}{path}");
        let connect = tokio_tungstenite::connect_async(url.as_str());
        match tokio::time::timeout(IO_TIMEOUT, connect).await {
            Ok(Ok((socket, response))) if response.status() == 101 => Ok(WsClient { socket }),
            Ok(Ok((_, response))) => Err(format!("{url}: status {}", response.status())),
            Ok(Err(e)) => Err(format!("{url}: handshake failed: {e}")),
            Err(_) => Err(format!("{url}: no handshake within {IO_TIMEOUT:?}")),
        }
    }

    /// Queues text messages and flushes them (without waiting for echoes).
    pub async fn send_all(&mut self, messages: &[String]) -> Result<(), String> {
        let send = async {
            for m in messages {
                self.socket.feed(Message::text(m.as_str())).await?;
            }
            self.socket.flush().await
        };
        match tokio::time::timeout(IO_TIMEOUT, send).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("sending: {e}")),
            Err(_) => Err(format!("sending took over {IO_TIMEOUT:?}")),
        }
    }

    /// The next text message, within [`IO_TIMEOUT`].
    pub async fn receive(&mut self) -> Result<String, String> {
        let next = async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Text(t))) => return Ok(t.to_string()),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(other)) => return Err(format!("unexpected message {other:?}")),
                    Some(Err(e)) => return Err(format!("receiving: {e}")),
                    None => return Err("the connection ended".to_string()),
                }
            }
        };
        tokio::time::timeout(IO_TIMEOUT, next)
            .await
            .unwrap_or_else(|_| Err(format!("no message within {IO_TIMEOUT:?}")))
    }

    /// Sends `message` and returns the reply.
    pub async fn echo(&mut self, message: &str) -> Result<String, String> {
        self.send_all(&[message.to_string()]).await?;
        self.receive().await
    }

    /// Waits, sending nothing, until the server side ends the connection;
    /// an error if it is still open after `within` or a message arrives.
    pub async fn ended_within(&mut self, within: Duration) -> Result<Ended, String> {
        let ended = async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.map(|f: CloseFrame| u16::from(f.code));
                        return Ok(Ended::CloseFrame(code));
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(other)) => return Err(format!("unexpected message {other:?}")),
                    Some(Err(
                        WsError::ConnectionClosed | WsError::AlreadyClosed | WsError::Io(_),
                    ))
                    | None => return Ok(Ended::TcpClose),
                    Some(Err(WsError::Protocol(_))) => return Ok(Ended::TcpClose),
                    Some(Err(e)) => return Err(format!("receiving: {e}")),
                }
            }
        };
        tokio::time::timeout(within, ended)
            .await
            .unwrap_or_else(|_| Err(format!("still open after {within:?}")))
    }

    /// Sends a close frame and waits for the connection to end.
    pub async fn close(mut self) -> Result<(), String> {
        let close = async {
            let _ = self.socket.close(None).await;
            while let Some(Ok(_)) = self.socket.next().await {}
        };
        tokio::time::timeout(IO_TIMEOUT, close)
            .await
            .map_err(|_| format!("closing took over {IO_TIMEOUT:?}"))
    }
}

/// The `i`th test message: numbered, with a length that varies.
pub fn message(i: usize) -> String {
    format!("message {i} {}", "x".repeat(i % 97))
}

/// What an echo exchange saw.
#[derive(Debug, Clone, Default)]
pub struct EchoReport {
    /// Messages sent.
    pub sent: usize,
    /// Replies received.
    pub received: usize,
    /// Index of the first reply that was not the message sent at the same
    /// position (wrong content or order).
    pub first_mismatch: Option<usize>,
}

impl EchoReport {
    /// Every message came back, in order.
    pub fn echoed_in_order(&self) -> bool {
        self.first_mismatch.is_none() && self.received == self.sent
    }
}

/// Sends `messages` test messages in batches of `batch` (each batch queued
/// at once, then its replies read), staying silent for `pause` after the
/// first half; compares each reply with the message sent at its position.
pub async fn exchange(
    client: &mut WsClient,
    messages: usize,
    batch: usize,
    pause: Option<Duration>,
) -> Result<EchoReport, String> {
    let mut report = EchoReport::default();
    let batch = batch.max(1);
    let halfway = messages / 2;
    let mut next = 0;
    while next < messages {
        if next == halfway {
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
            }
        }
        let end = (next + batch)
            .min(messages)
            .min(if next < halfway { halfway } else { messages });
        let sent: Vec<String> = (next..end).map(message).collect();
        client.send_all(&sent).await?;
        report.sent += sent.len();
        for (i, expected) in (next..end).zip(&sent) {
            let reply = client
                .receive()
                .await
                .map_err(|e| format!("reply {i}: {e}"))?;
            report.received += 1;
            if &reply != expected && report.first_mismatch.is_none() {
                report.first_mismatch = Some(i);
            }
        }
        next = end;
    }
    Ok(report)
}
