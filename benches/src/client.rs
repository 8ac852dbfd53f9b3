//! One keep-alive HTTP/1.1 client connection, the same for every target.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// A connection to one target.
pub struct Client {
    addr: SocketAddr,
    sender: SendRequest<Empty<Bytes>>,
}

impl Client {
    /// Connects to `addr`, retrying refused connections until `deadline`
    /// passes (the target may still be starting).
    pub async fn connect(addr: SocketAddr, within: Duration) -> Result<Self, String> {
        let deadline = Instant::now() + within;
        let stream = loop {
            match TcpStream::connect(addr).await {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("connecting to {addr}: {e}"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake with {addr}: {e}"))?;
        tokio::spawn(connection);
        Ok(Self { addr, sender })
    }

    /// Sends `GET path` and reads the whole response; returns the status
    /// and the body length.
    pub async fn get(&mut self, path: &str) -> Result<(u16, usize), String> {
        let req = Request::get(path)
            .header("host", "bench.local")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        self.sender
            .ready()
            .await
            .map_err(|e| format!("{}: connection lost: {e}", self.addr))?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| format!("{}: {e}", self.addr))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{}: reading the body: {e}", self.addr))?
            .to_bytes();
        Ok((status, body.len()))
    }
}
