//! `unix: true`: a mock reachable on a Unix socket.
//!
//! The socket relays each connection, byte for byte, to the mock's own
//! loopback listener, so every behaviour (including connection-level ones)
//! works unchanged. What a Unix socket cannot carry is lost on the way: a
//! TCP reset reaches the gateway as a plain close.

use std::net::SocketAddr;
use std::path::Path;
use tokio::net::{TcpStream, UnixListener};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Listens on `path` (replacing a stale socket file) and relays every
/// connection to `target` until `stop` turns true.
pub(super) fn spawn_relay(
    path: &Path,
    target: SocketAddr,
    stop: watch::Receiver<bool>,
) -> std::io::Result<JoinHandle<()>> {
    remove_socket(path);
    let listener = UnixListener::bind(path)?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                continue;
            };
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let Ok(mut upstream) = TcpStream::connect(target).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                    _ = stop.wait_for(|stopped| *stopped) => {}
                }
            });
        }
    }))
}

/// Removes the socket file so that connecting fails, as for a stopped
/// server whose socket was cleaned up.
pub(super) fn remove_socket(path: &Path) {
    let _ = std::fs::remove_file(path);
}
