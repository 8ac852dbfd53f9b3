//! Bounded client load: a fixed number of requests at a fixed concurrency,
//! every response recorded. Background load runs until stopped, bounded by
//! a request cap and a time cap so it always ends by itself.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Chunk size of a body sent with `chunked`.
pub const BODY_CHUNK: usize = 1024;

/// What to send.
#[derive(Debug, Clone)]
pub struct TrafficSpec {
    /// Base URL, e.g. `http://127.0.0.1:6188`.
    pub base: String,
    /// Path and query.
    pub path: String,
    /// Method.
    pub method: http::Method,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Option<String>,
    /// Send the body chunked (no `Content-Length`), in chunks of
    /// [`BODY_CHUNK`] bytes.
    pub chunked: bool,
    /// Requests to send in all.
    pub requests: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// HTTP/2 with prior knowledge instead of HTTP/1.1.
    pub http2: bool,
    /// Reuse connections (otherwise one connection per request).
    pub keepalive: bool,
    /// Per-request timeout.
    pub timeout: Duration,
    /// HTTPS settings (for an `https://` base).
    pub tls: Option<ClientTls>,
    /// Paced sending: request `i` starts `i / rate` seconds after the
    /// first, whatever the concurrency (at once when `None`).
    pub rate: Option<f64>,
}

/// How the client verifies the server and, for mutual TLS, identifies
/// itself.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// PEM CA certificate that must have signed the server's certificate.
    pub ca: PathBuf,
    /// PEM client certificate and key, for mutual TLS.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// Connect to this address for the base URL's host name, which is
    /// still sent as SNI and verified (`https://a.example.test:PORT` at
    /// `127.0.0.1:PORT`).
    pub resolve: Option<(String, SocketAddr)>,
}

impl TrafficSpec {
    /// `requests` GETs of `path` against `base`, one at a time.
    pub fn get(base: &str, path: &str, requests: usize) -> Self {
        TrafficSpec {
            base: base.to_string(),
            path: path.to_string(),
            method: http::Method::GET,
            headers: Vec::new(),
            body: None,
            chunked: false,
            requests,
            concurrency: 1,
            http2: false,
            keepalive: false,
            timeout: Duration::from_secs(10),
            tls: None,
            rate: None,
        }
    }

    /// When request `i` is due, for paced sending.
    fn due(&self, started: Instant, i: usize) -> Option<Instant> {
        let rate = self.rate.filter(|r| *r > 0.0)?;
        started.checked_add(Duration::from_secs_f64(i as f64 / rate))
    }

    fn client(&self) -> Result<reqwest::Client, String> {
        let mut b = reqwest::Client::builder().timeout(self.timeout);
        if self.http2 {
            b = b.http2_prior_knowledge();
        }
        if !self.keepalive {
            b = b.pool_max_idle_per_host(0);
        }
        if let Some(tls) = &self.tls {
            let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
            let ca = reqwest::Certificate::from_pem(&read(&tls.ca)?).map_err(|e| e.to_string())?;
            b = b
                .use_rustls_tls()
                .tls_info(true)
                .tls_built_in_root_certs(false)
                .add_root_certificate(ca);
            if let Some((name, addr)) = &tls.resolve {
                b = b.resolve(name, *addr);
            }
            if let Some((cert, key)) = &tls.identity {
                let mut pem = read(cert)?;
                pem.extend_from_slice(&read(key)?);
                b = b.identity(reqwest::Identity::from_pem(&pem).map_err(|e| e.to_string())?);
            }
        }
        b.build().map_err(|e| e.to_string())
    }
}

/// How a request failed without an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Failure {
    /// The connection was refused.
    Refused,
    /// The request timed out.
    Timeout,
    /// Headers arrived but the body broke off.
    Body,
    /// The TLS handshake failed (either side refused it; with TLS 1.3 a
    /// refused client certificate shows up only after the client sent its
    /// request, which the server never processed).
    Tls,
    /// Anything else at the transport level (resets, protocol errors).
    Transport,
}

impl Failure {
    /// Lower-case name used in expectations and reports.
    pub fn name(self) -> &'static str {
        match self {
            Failure::Refused => "refused",
            Failure::Timeout => "timeout",
            Failure::Body => "body",
            Failure::Tls => "tls",
            Failure::Transport => "transport",
        }
    }

    fn classify(e: &reqwest::Error) -> Failure {
        if e.is_timeout() {
            return Failure::Timeout;
        }
        if e.is_body() || e.is_decode() {
            return Failure::Body;
        }
        let mut source: Option<&dyn std::error::Error> = Some(e);
        while let Some(s) = source {
            if let Some(failure) = Failure::of_cause(s, 0) {
                return failure;
            }
            source = s.source();
        }
        Failure::Transport
    }

    /// A refused connection or a TLS error in `e` itself or in what it
    /// wraps without exposing as its source (`io::Error`'s inner error, a
    /// boxed error: both forward `source()` past themselves).
    fn of_cause(e: &(dyn std::error::Error + 'static), depth: usize) -> Option<Failure> {
        if depth > 4 {
            return None;
        }
        if e.is::<tokio_rustls::rustls::Error>() {
            return Some(Failure::Tls);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return Some(Failure::Refused);
            }
            let inner = io.get_ref()? as &(dyn std::error::Error + 'static);
            // A TLS alert read after the handshake (TLS 1.3 client
            // certificate refused) reaches hyper as text, not as a rustls
            // error: rustls's wording is the only mark left.
            if io.kind() == std::io::ErrorKind::InvalidData
                && inner.to_string().starts_with("received fatal alert")
            {
                return Some(Failure::Tls);
            }
            return Failure::of_cause(inner, depth + 1);
        }
        None
    }
}

/// One request's outcome.
#[derive(Debug, Clone)]
pub struct Record {
    /// Status, when a complete response arrived.
    pub status: Option<u16>,
    /// Status of a response whose body then broke off.
    pub broken_status: Option<u16>,
    /// The `x-upstream` header.
    pub upstream: Option<String>,
    /// Response headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The failure, when there was no complete response.
    pub failure: Option<Failure>,
    /// Whether a connection (and TLS session) was established, so the
    /// server saw the request; false for refused connections and failed
    /// handshakes.
    pub connected: bool,
    /// The failure's message, with its causes.
    pub error: Option<String>,
    /// Common name of the server certificate (HTTPS).
    pub server_cert_cn: Option<String>,
    /// HTTP version of the response (`HTTP/1.1`, `HTTP/2`).
    pub version: Option<String>,
    /// Body bytes received, exactly (also when the body broke off).
    pub body: Vec<u8>,
    /// Time to the complete response or failure.
    pub latency: Duration,
}

impl Record {
    /// The body as text (invalid UTF-8 replaced).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the head arrived but the body broke off: the client saw an
    /// incomplete message.
    pub fn incomplete(&self) -> bool {
        self.broken_status.is_some()
    }

    /// Whether the server ended the exchange abnormally after receiving
    /// the request: an incomplete body, or a reset (an HTTP/2 stream reset
    /// can arrive before the head does, since resetting drops frames still
    /// queued).
    pub fn cut_short(&self) -> bool {
        self.incomplete() || (self.connected && self.failure == Some(Failure::Transport))
    }

    /// A response header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The outcome of a traffic run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Every request, in completion order.
    pub records: Vec<Record>,
    /// Time from sending the first request to the end of the last
    /// exchange, as the driver measured it: every request reached the
    /// server within this span.
    pub elapsed: Duration,
}

impl Summary {
    /// Requests sent.
    pub fn sent(&self) -> usize {
        self.records.len()
    }

    /// Complete responses by status.
    pub fn statuses(&self) -> BTreeMap<u16, usize> {
        let mut m = BTreeMap::new();
        for s in self.records.iter().filter_map(|r| r.status) {
            *m.entry(s).or_insert(0) += 1;
        }
        m
    }

    /// Failures by kind.
    pub fn failures(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for f in self.records.iter().filter_map(|r| r.failure) {
            *m.entry(f.name()).or_insert(0) += 1;
        }
        m
    }

    /// Complete responses by the value of header `name` (`(absent)` for
    /// those without it).
    pub fn header_counts(&self, name: &str) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for r in self.records.iter().filter(|r| r.status.is_some()) {
            let value = r.header(name).unwrap_or("(absent)").to_string();
            *m.entry(value).or_insert(0) += 1;
        }
        m
    }

    /// Complete 2xx responses by `x-upstream`.
    pub fn served_by(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for r in &self.records {
            if let (Some(200..=299), Some(u)) = (r.status, &r.upstream) {
                *m.entry(u.clone()).or_insert(0) += 1;
            }
        }
        m
    }

    /// Requests sent over an established connection: those the server
    /// saw, answered or not (timed out and aborted ones included).
    pub fn reached_server(&self) -> usize {
        self.records.iter().filter(|r| r.connected).count()
    }

    /// Responses whose head arrived but whose body broke off.
    pub fn incomplete(&self) -> usize {
        self.records.iter().filter(|r| r.incomplete()).count()
    }

    /// Exchanges the server ended abnormally after receiving the request.
    pub fn cut_short(&self) -> usize {
        self.records.iter().filter(|r| r.cut_short()).count()
    }

    /// Requests that did not get a complete 2xx response.
    pub fn unsuccessful(&self) -> usize {
        self.records
            .iter()
            .filter(|r| !matches!(r.status, Some(200..=299)))
            .count()
    }

    /// A one-line description for reports, with up to three distinct
    /// failure messages.
    pub fn describe(&self) -> String {
        let mut errors: Vec<&str> = Vec::new();
        for e in self.records.iter().filter_map(|r| r.error.as_deref()) {
            if errors.len() < 3 && !errors.contains(&e) {
                errors.push(e);
            }
        }
        let errors = if errors.is_empty() {
            String::new()
        } else {
            format!("; errors: {}", errors.join(" | "))
        };
        format!(
            "{} sent in {:.2}s, statuses {:?}, failures {:?}, served by {:?}{errors}",
            self.sent(),
            self.elapsed.as_secs_f64(),
            self.statuses(),
            self.failures(),
            self.served_by()
        )
    }
}

/// An error and its sources, joined by `: `.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn one(client: &reqwest::Client, spec: &TrafficSpec) -> Record {
    let started = Instant::now();
    let mut req = client.request(spec.method.clone(), format!("{}{}", spec.base, spec.path));
    for (k, v) in &spec.headers {
        req = req.header(k, v);
    }
    if let Some(body) = &spec.body {
        req = if spec.chunked {
            let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = body
                .as_bytes()
                .chunks(BODY_CHUNK)
                .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                .collect();
            req.body(reqwest::Body::wrap_stream(tokio_stream::iter(chunks)))
        } else {
            req.body(body.clone())
        };
    }
    let mut record = Record {
        status: None,
        broken_status: None,
        upstream: None,
        headers: Vec::new(),
        failure: None,
        connected: true,
        error: None,
        server_cert_cn: None,
        version: None,
        body: Vec::new(),
        latency: Duration::ZERO,
    };
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            record.version = Some(version_name(resp.version()));
            record.server_cert_cn = resp
                .extensions()
                .get::<reqwest::tls::TlsInfo>()
                .and_then(|info| info.peer_certificate())
                .and_then(common_name);
            record.upstream = resp
                .headers()
                .get("x-upstream")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            record.headers = resp
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect();
            match read_body(resp, &mut record.body).await {
                Ok(()) => record.status = Some(status),
                Err(e) => {
                    // hyper reports a message that ended before its framing
                    // said (Content-Length, last chunk, END_STREAM) as an
                    // error: the client saw an incomplete response.
                    record.broken_status = Some(status);
                    record.failure = Some(if e.is_timeout() {
                        Failure::Timeout
                    } else {
                        Failure::Body
                    });
                    record.error = Some(error_chain(&e));
                }
            }
        }
        Err(e) => {
            record.failure = Some(Failure::classify(&e));
            // A refused handshake means the server never took the request,
            // even when (TLS 1.3) the client had already sent it.
            record.connected = !e.is_connect() && record.failure != Some(Failure::Tls);
            record.error = Some(error_chain(&e));
        }
    }
    record.latency = started.elapsed();
    record
}

/// `HTTP/1.1`, `HTTP/2`, ...
fn version_name(v: http::Version) -> String {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "unknown",
    }
    .to_string()
}

/// The subject common name of a DER certificate.
fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// Reads the body into `out` chunk by chunk, so the bytes received before
/// an error are kept.
async fn read_body(mut resp: reqwest::Response, out: &mut Vec<u8>) -> Result<(), reqwest::Error> {
    while let Some(chunk) = resp.chunk().await? {
        out.extend_from_slice(&chunk);
    }
    Ok(())
}

/// Sends `spec.requests` requests, `spec.concurrency` at a time.
pub async fn run(spec: &TrafficSpec) -> Result<Summary, String> {
    let progress = Arc::new(AtomicUsize::new(0));
    run_until(
        spec,
        Arc::new(AtomicBool::new(false)),
        progress,
        Duration::MAX,
    )
    .await
}

async fn run_until(
    spec: &TrafficSpec,
    stop: Arc<AtomicBool>,
    progress: Arc<AtomicUsize>,
    max_time: Duration,
) -> Result<Summary, String> {
    let client = spec.client()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started.checked_add(max_time);
    let mut workers = Vec::new();
    for _ in 0..spec.concurrency.max(1) {
        let (client, spec, next, stop, progress) = (
            client.clone(),
            spec.clone(),
            next.clone(),
            stop.clone(),
            progress.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut records = Vec::new();
            let past_deadline = |t: Instant| deadline.is_some_and(|d| t >= d);
            while !stop.load(SeqCst) && !past_deadline(Instant::now()) {
                let i = next.fetch_add(1, SeqCst);
                if i >= spec.requests {
                    break;
                }
                if let Some(due) = spec.due(started, i) {
                    if past_deadline(due) {
                        break;
                    }
                    tokio::time::sleep_until(due.into()).await;
                    if stop.load(SeqCst) {
                        break;
                    }
                }
                records.push(one(&client, &spec).await);
                progress.fetch_add(1, SeqCst);
            }
            records
        }));
    }
    let mut summary = Summary::default();
    for w in workers {
        summary
            .records
            .extend(w.await.map_err(|e| format!("traffic worker failed: {e}"))?);
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Load running in the background until [`Background::join`].
pub struct Background {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Result<Summary, String>>,
    completed: Arc<AtomicUsize>,
}

impl Background {
    /// Starts sending; stops by itself after `spec.requests` requests or
    /// `max_time`, whichever comes first.
    pub fn start(spec: TrafficSpec, max_time: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let completed = Arc::new(AtomicUsize::new(0));
        let task = {
            let (stop, completed) = (stop.clone(), completed.clone());
            tokio::spawn(async move { run_until(&spec, stop, completed, max_time).await })
        };
        Background {
            stop,
            task,
            completed,
        }
    }

    /// Requests completed so far.
    pub fn completed(&self) -> usize {
        self.completed.load(SeqCst)
    }

    /// Whether it has already stopped by itself.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops sending and returns what was recorded.
    pub async fn join(self) -> Result<Summary, String> {
        self.stop.store(true, SeqCst);
        self.task
            .await
            .map_err(|e| format!("background traffic failed: {e}"))?
    }
}
