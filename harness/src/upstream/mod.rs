//! Mock upstreams: small servers on 127.0.0.1 that count requests, tag
//! responses with `x-upstream: NAME`, and change behaviour or go down while
//! a test runs.
//!
//! A behaviour is one type implementing [`Behaviour`], in one file here.
//! HTTP behaviours implement `respond`; connection-level ones (resets, lying
//! framing, protocol restrictions, TLS) override `serve`.

mod body_mismatch;
mod cacheable;
mod chunked_truncated;
mod echo;
mod fixed;
mod flapping;
mod grpc;
mod h2c;
mod http;
mod mtls;
mod raw;
mod reset;
mod reset_body;
mod slow;
mod unix;
mod websocket;

pub use body_mismatch::BodyMismatch;
pub use cacheable::Cacheable;
pub use chunked_truncated::ChunkedTruncated;
pub use echo::Echo;
pub use fixed::Fixed;
pub use flapping::{FlapSchedule, Flapper};
pub use grpc::GrpcEcho;
pub use h2c::H2cOnly;
pub use http::{full, tagged, MockBody, MockResponse};
pub use mtls::{Mtls, CLIENT_CN_HEADER};
pub use reset::Reset;
pub use reset_body::ResetBody;
pub use slow::{Slow, StallBody};
pub use websocket::WebSocketEcho;

use async_trait::async_trait;
use hyper::body::Incoming;
use hyper::Request;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// User agent of the gateway's HTTP health checks; such requests are
/// answered from the health status and not counted as hits.
pub const HEALTH_CHECK_AGENT: &str = "gateway-health-check";

/// What a mock knows about itself while answering.
pub struct MockContext {
    /// The mock's name (sent as `x-upstream`).
    pub name: String,
    hits: AtomicU64,
    complete_bodies: AtomicU64,
    health_checks: AtomicU64,
    health_status: AtomicU16,
    behaviour: RwLock<Arc<dyn Behaviour>>,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
}

impl MockContext {
    /// Counts one request as served.
    pub fn count_hit(&self) {
        self.hits.fetch_add(1, SeqCst);
    }

    /// Counts one request body received to its end (behaviours that read
    /// request bodies call it; empty bodies are not counted).
    pub fn count_complete_body(&self) {
        self.complete_bodies.fetch_add(1, SeqCst);
    }

    /// Counts a request as being answered until the returned guard drops
    /// (the response head is ready, or the client went away).
    pub fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.peak_in_flight.fetch_max(now, SeqCst);
        InFlight(self)
    }

    fn behaviour(&self) -> Arc<dyn Behaviour> {
        self.behaviour
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// One request being answered (see [`MockContext::enter`]).
pub struct InFlight<'a>(&'a MockContext);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, SeqCst);
    }
}

/// How a mock answers.
#[async_trait]
pub trait Behaviour: Send + Sync + 'static {
    /// Answers one HTTP request. Connection-level behaviours that override
    /// [`Behaviour::serve`] may leave the default.
    async fn respond(&self, _req: Request<Incoming>, ctx: &MockContext) -> MockResponse {
        tagged(
            &ctx.name,
            500,
            full("this behaviour does not answer requests"),
        )
    }

    /// Serves one accepted connection: by default HTTP/1.1 and h2c via
    /// hyper, counting each request and calling [`Behaviour::respond`].
    async fn serve(self: Arc<Self>, stream: TcpStream, ctx: Arc<MockContext>) {
        http::serve_auto(stream, ctx).await
    }

    /// Lets parked requests go; false when this behaviour parks none.
    fn release(&self) -> bool {
        false
    }

    /// Makes the next response a new version; false when this behaviour
    /// has no versions.
    fn bump_version(&self) -> bool {
        false
    }
}

/// A running (or stopped) mock upstream.
pub struct MockUpstream {
    addr: SocketAddr,
    /// The Unix socket it is also reachable on (`unix: true`).
    unix: Option<PathBuf>,
    ctx: Arc<MockContext>,
    running: Mutex<Option<Running>>,
}

struct Running {
    accept: JoinHandle<()>,
    /// The Unix socket relay, if any.
    relay: Option<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Running {
    fn stop(self) -> JoinHandle<()> {
        let _ = self.stop.send(true);
        if let Some(relay) = self.relay {
            relay.abort();
        }
        self.accept.abort();
        self.accept
    }
}

impl MockUpstream {
    /// Starts a mock named `name` on an ephemeral loopback port.
    pub async fn start(name: &str, behaviour: impl Behaviour) -> std::io::Result<Self> {
        Self::start_shared(name, Arc::new(behaviour)).await
    }

    /// [`MockUpstream::start`] with an already shared behaviour.
    pub async fn start_shared(name: &str, behaviour: Arc<dyn Behaviour>) -> std::io::Result<Self> {
        Self::start_with(name, behaviour, None).await
    }

    /// [`MockUpstream::start_shared`], reachable on the Unix socket `path`
    /// (created; an existing socket file there is replaced).
    pub async fn start_unix(
        name: &str,
        behaviour: Arc<dyn Behaviour>,
        path: &Path,
    ) -> std::io::Result<Self> {
        Self::start_with(name, behaviour, Some(path.to_path_buf())).await
    }

    async fn start_with(
        name: &str,
        behaviour: Arc<dyn Behaviour>,
        unix: Option<PathBuf>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let ctx = Arc::new(MockContext {
            name: name.to_string(),
            hits: AtomicU64::new(0),
            complete_bodies: AtomicU64::new(0),
            health_checks: AtomicU64::new(0),
            health_status: AtomicU16::new(200),
            behaviour: RwLock::new(behaviour),
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
        });
        let running = spawn_server(listener, unix.as_deref(), ctx.clone())?;
        Ok(MockUpstream {
            addr,
            unix,
            ctx,
            running: Mutex::new(Some(running)),
        })
    }

    /// Its name, as sent in `x-upstream`.
    pub fn name(&self) -> &str {
        &self.ctx.name
    }

    /// Where it listens (kept across down/up).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Unix socket it is reachable on, if started with one.
    pub fn unix_path(&self) -> Option<&Path> {
        self.unix.as_deref()
    }

    /// Its endpoint address for a gateway config: `unix:/path` for a Unix
    /// socket mock, `IP:port` otherwise.
    pub fn endpoint_address(&self) -> String {
        match &self.unix {
            Some(path) => format!("unix:{}", path.display()),
            None => self.addr.to_string(),
        }
    }

    /// Requests served, health checks excluded.
    pub fn hits(&self) -> u64 {
        self.ctx.hits.load(SeqCst)
    }

    /// Non-empty request bodies received complete (by behaviours that read
    /// bodies: `echo`).
    pub fn complete_bodies(&self) -> u64 {
        self.ctx.complete_bodies.load(SeqCst)
    }

    /// Requests being answered now.
    pub fn in_flight(&self) -> u64 {
        self.ctx.in_flight.load(SeqCst)
    }

    /// The most requests it was answering at once so far (HTTP behaviours
    /// through the default connection loop).
    pub fn peak_in_flight(&self) -> u64 {
        self.ctx.peak_in_flight.load(SeqCst)
    }

    /// Health checks answered so far.
    pub fn health_checks(&self) -> u64 {
        self.ctx.health_checks.load(SeqCst)
    }

    /// Changes how requests are answered from now on.
    pub fn set_behaviour(&self, behaviour: impl Behaviour) {
        self.set_behaviour_shared(Arc::new(behaviour));
    }

    /// [`MockUpstream::set_behaviour`] with an already shared behaviour.
    pub fn set_behaviour_shared(&self, behaviour: Arc<dyn Behaviour>) {
        *self
            .ctx
            .behaviour
            .write()
            .unwrap_or_else(|p| p.into_inner()) = behaviour;
    }

    /// Lets requests parked by the current behaviour go; false when it
    /// parks none.
    pub fn release(&self) -> bool {
        self.ctx.behaviour().release()
    }

    /// Makes the current behaviour's next response a new version; false
    /// when it has no versions.
    pub fn bump_version(&self) -> bool {
        self.ctx.behaviour().bump_version()
    }

    /// Status returned to HTTP health checks (200 by default).
    pub fn set_health_status(&self, status: u16) {
        self.ctx.health_status.store(status, SeqCst);
    }

    /// Closes the listener and every open connection: new connections are
    /// refused until [`MockUpstream::up`] (a Unix socket file is removed).
    pub async fn down(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(r) = running {
            let _ = r.stop().await;
        }
        if let Some(path) = &self.unix {
            unix::remove_socket(path);
        }
    }

    /// Listens again on the same address.
    pub async fn up(&self) -> std::io::Result<()> {
        if self.is_up() {
            return Ok(());
        }
        let mut last_err = None;
        for _ in 0..100 {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    let running = spawn_server(listener, self.unix.as_deref(), self.ctx.clone())?;
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
            drop(r.stop());
        }
        if let Some(path) = &self.unix {
            unix::remove_socket(path);
        }
    }
}

fn spawn_server(
    listener: TcpListener,
    unix: Option<&Path>,
    ctx: Arc<MockContext>,
) -> std::io::Result<Running> {
    let (stop, stop_rx) = watch::channel(false);
    let relay = match unix {
        Some(path) => Some(unix::spawn_relay(
            path,
            listener.local_addr()?,
            stop_rx.clone(),
        )?),
        None => None,
    };
    let accept = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let ctx = ctx.clone();
            let mut stop_rx = stop_rx.clone();
            tokio::spawn(async move {
                let behaviour = ctx.behaviour();
                tokio::select! {
                    _ = behaviour.serve(stream, ctx) => {}
                    _ = stop_rx.wait_for(|stopped| *stopped) => {}
                }
            });
        }
    });
    Ok(Running {
        accept,
        relay,
        stop,
    })
}
