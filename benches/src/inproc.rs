//! Runs a Pingora [`Server`] on a plain thread (its `run` blocks on its own
//! runtimes and must not be inside one) and stops it when dropped.

use async_trait::async_trait;
use pingora::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use std::thread::JoinHandle;
use tokio::sync::watch;

/// A server running on its own thread.
pub struct RunningServer {
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

/// Resolves once the owner asks the server to stop.
struct StopWatch(watch::Receiver<bool>);

#[async_trait]
impl ShutdownSignalWatch for StopWatch {
    async fn recv(&self) -> ShutdownSignal {
        let mut rx = self.0.clone();
        // An error means the sender is gone: stop as well.
        let _ = rx.wait_for(|stop| *stop).await;
        ShutdownSignal::FastShutdown
    }
}

impl RunningServer {
    /// Starts `server` (already bootstrapped, services added).
    pub fn start(server: Server) -> std::io::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("bench-pingora".into())
            .spawn(move || {
                server.run(RunArgs {
                    shutdown_signal: Box::new(StopWatch(stopped)),
                })
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
