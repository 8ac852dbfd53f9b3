//! Mock upstreams: small hyper servers on 127.0.0.1 that count requests,
//! tag responses with `x-upstream: NAME`, and change behaviour or go down
//! while a test runs.

mod behaviour;

pub use behaviour::Behaviour;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// User agent of the gateway's HTTP health checks; such requests are
/// answered by the health status and not counted as hits.
pub const HEALTH_CHECK_AGENT: &str = "gateway-health-check";

struct Shared {
    name: String,
    hits: AtomicU64,
    health_checks: AtomicU64,
    health_status: AtomicU16,
    behaviour: Mutex<Behaviour>,
}

/// A running (or stopped) mock upstream.
pub struct MockUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
}

struct Running {
    accept: JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl MockUpstream {
    /// Starts a mock named `name` on an ephemeral loopback port.
    pub async fn start(name: &str, behaviour: Behaviour) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            name: name.to_string(),
            hits: AtomicU64::new(0),
            health_checks: AtomicU64::new(0),
            health_status: AtomicU16::new(200),
            behaviour: Mutex::new(behaviour),
        });
        let running = spawn_server(listener, shared.clone());
        Ok(MockUpstream {
            addr,
            shared,
            running: Mutex::new(Some(running)),
        })
    }

    /// Its name, as sent in `x-upstream`.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Where it listens (kept across down/up).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests served, health checks excluded.
    pub fn hits(&self) -> u64 {
        self.shared.hits.load(SeqCst)
    }

    /// HTTP health-check requests received.
    pub fn health_checks(&self) -> u64 {
        self.shared.health_checks.load(SeqCst)
    }

    /// Resets the hit counter to zero.
    pub fn reset_hits(&self) {
        self.shared.hits.store(0, SeqCst);
    }

    /// Changes how requests are answered from now on.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self
            .shared
            .behaviour
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = behaviour;
    }

    /// Status returned to HTTP health checks (200 by default).
    pub fn set_health_status(&self, status: u16) {
        self.shared.health_status.store(status, SeqCst);
    }

    /// Closes the listener and every open connection: new connections are
    /// refused until [`MockUpstream::up`].
    pub async fn down(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(r) = running {
            let _ = r.stop.send(true);
            r.accept.abort();
            let _ = r.accept.await;
        }
    }

    /// Listens again on the same address.
    pub async fn up(&self) -> std::io::Result<()> {
        if self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return Ok(());
        }
        let mut last_err = None;
        for _ in 0..100 {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    let running = spawn_server(listener, self.shared.clone());
                    *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(running);
                    return Ok(());
                }
                Err(e) => {
                    last_err = Some(e);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::other("rebinding failed")))
    }

    /// Whether it is currently listening.
    pub fn is_up(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        if let Some(r) = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = r.stop.send(true);
            r.accept.abort();
        }
    }
}

fn spawn_server(listener: TcpListener, shared: Arc<Shared>) -> Running {
    let (stop, stop_rx) = watch::channel(false);
    let accept = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let shared = shared.clone();
            let mut stop_rx = stop_rx.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(shared.clone(), req));
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = conn => {}
                    _ = stop_rx.wait_for(|stopped| *stopped) => {}
                }
            });
        }
    });
    Running { accept, stop }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let is_health_check = req
        .headers()
        .get(http::header::USER_AGENT)
        .is_some_and(|ua| ua.as_bytes() == HEALTH_CHECK_AGENT.as_bytes());
    if is_health_check {
        shared.health_checks.fetch_add(1, SeqCst);
        let status = shared.health_status.load(SeqCst);
        let body = if status < 400 { "ok" } else { "unhealthy" };
        return Ok(behaviour::tagged(&shared.name, status, Bytes::from(body)));
    }
    shared.hits.fetch_add(1, SeqCst);
    let behaviour = shared
        .behaviour
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(behaviour.respond(&shared.name, req).await)
}
