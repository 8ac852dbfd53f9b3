//! The access log: one line per request, `key=value` text or JSON, written
//! off the request path. Values that could break the line (quotes,
//! backslashes, control and non-ASCII bytes) are escaped, so a client cannot
//! forge fields or lines.
//!
//! A request appends its line to an in-memory buffer (one short lock, no
//! system call). A background thread, started with the first line (so it
//! survives daemonisation), writes the buffer when it holds `buffer` bytes,
//! when a line has waited `flush_interval`, and on [`AccessLog::flush`] at
//! shutdown. When the writer falls more than [`QUEUED_CHUNKS`] buffers
//! behind, lines are dropped and counted rather than stalling requests.

use crate::config::{AccessLogFormat, AccessLogSetting, ConfigError, LoadedConfig};
use std::fmt::{self, Write as _};
use std::fs::OpenOptions;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// Full buffers that may wait for the writer before lines are dropped.
pub(crate) const QUEUED_CHUNKS: usize = 16;

/// Displays a value with `"`, `\`, control and non-ASCII bytes escaped
/// (`\"`, `\\`, `\xHH`); clean values are written as they are.
#[cfg(test)]
pub(crate) struct Escaped<'a>(pub &'a str);

#[cfg(test)]
impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, self.0)
    }
}

/// Writes `value` escaped as [`Escaped`] displays it.
fn write_escaped<W: fmt::Write + ?Sized>(w: &mut W, value: &str) -> fmt::Result {
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let needs = b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b);
        if !needs {
            continue;
        }
        w.write_str(ascii_run(&bytes[start..i]))?;
        match b {
            b'"' => w.write_str("\\\"")?,
            b'\\' => w.write_str("\\\\")?,
            _ => write!(w, "\\x{b:02x}")?,
        }
        start = i + 1;
    }
    w.write_str(ascii_run(&bytes[start..]))
}

/// Displays a value as the inside of a JSON string: `"`, `\` and control
/// characters escaped (`\"`, `\\`, `\u00XX`); other text as it is.
#[cfg(test)]
pub(crate) struct JsonEscaped<'a>(pub &'a str);

#[cfg(test)]
impl fmt::Display for JsonEscaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_json_escaped(f, self.0)
    }
}

/// Writes `value` escaped as [`JsonEscaped`] displays it.
fn write_json_escaped<W: fmt::Write + ?Sized>(w: &mut W, value: &str) -> fmt::Result {
    let mut start = 0;
    for (i, b) in value.bytes().enumerate() {
        if b != b'"' && b != b'\\' && b >= 0x20 && b != 0x7f {
            continue;
        }
        // Escaped bytes are ASCII, so these are char boundaries.
        w.write_str(&value[start..i])?;
        match b {
            b'"' => w.write_str("\\\"")?,
            b'\\' => w.write_str("\\\\")?,
            _ => write!(w, "\\u{b:04x}")?,
        }
        start = i + 1;
    }
    w.write_str(&value[start..])
}

/// A run of bytes none of which needed escaping: all ASCII, so valid UTF-8.
fn ascii_run(run: &[u8]) -> &str {
    std::str::from_utf8(run).unwrap_or_default()
}

/// What one access-log line says about a request.
pub struct AccessRecord<'a> {
    /// When the line is written.
    pub time: SystemTime,
    /// Request method.
    pub method: &'a str,
    /// Request path (without the query).
    pub path: &'a str,
    /// Status sent (499: client left first; 0: none).
    pub status: u16,
    /// Route name (`none` when unrouted).
    pub route: &'a str,
    /// Cluster name (`-` when unrouted).
    pub cluster: &'a str,
    /// Label of the last endpoint attempted (`-` when none).
    pub endpoint: &'a str,
    /// Upstream attempts made.
    pub attempts: usize,
    /// Time from the request's start to the line.
    pub duration: Duration,
    /// The request id.
    pub request_id: &'a str,
    /// The error that ended the request, if any.
    pub error: Option<&'a dyn fmt::Display>,
}

impl AccessRecord<'_> {
    /// Appends the line, with its newline, in `format`.
    pub fn write_line(&self, format: AccessLogFormat, out: &mut String) {
        // Writing into a String cannot fail.
        let _ = match format {
            AccessLogFormat::Text => self.write_text(out),
            AccessLogFormat::Json => self.write_json(out),
        };
        out.push('\n');
    }

    fn write_text(&self, out: &mut String) -> fmt::Result {
        out.push_str("time=");
        push_time(out, self.time);
        out.push_str(" method=");
        write_escaped(out, self.method)?;
        out.push_str(" path=\"");
        write_escaped(out, self.path)?;
        write!(out, "\" status={} route=", self.status)?;
        write_escaped(out, self.route)?;
        out.push_str(" cluster=");
        write_escaped(out, self.cluster)?;
        out.push_str(" endpoint=");
        write_escaped(out, self.endpoint)?;
        write!(out, " attempts={} duration_ms=", self.attempts)?;
        push_millis(out, self.duration)?;
        out.push_str(" request_id=");
        write_escaped(out, self.request_id)?;
        if let Some(e) = self.error {
            out.push_str(" error=\"");
            write_escaped(out, &e.to_string())?;
            out.push('"');
        }
        Ok(())
    }

    fn write_json(&self, out: &mut String) -> fmt::Result {
        out.push_str("{\"time\":\"");
        push_time(out, self.time);
        out.push_str("\",\"method\":\"");
        write_json_escaped(out, self.method)?;
        out.push_str("\",\"path\":\"");
        write_json_escaped(out, self.path)?;
        write!(out, "\",\"status\":{},\"route\":\"", self.status)?;
        write_json_escaped(out, self.route)?;
        out.push_str("\",\"cluster\":\"");
        write_json_escaped(out, self.cluster)?;
        out.push_str("\",\"endpoint\":\"");
        write_json_escaped(out, self.endpoint)?;
        write!(out, "\",\"attempts\":{},\"duration_ms\":", self.attempts)?;
        push_millis(out, self.duration)?;
        out.push_str(",\"request_id\":\"");
        write_json_escaped(out, self.request_id)?;
        out.push('"');
        if let Some(e) = self.error {
            out.push_str(",\"error\":\"");
            write_json_escaped(out, &e.to_string())?;
            out.push('"');
        }
        out.write_char('}')
    }
}

/// `duration` in milliseconds with three decimals (microseconds, rounded
/// to the nearest), without going through floating point.
fn push_millis(out: &mut String, duration: Duration) -> fmt::Result {
    let micros = (duration.as_nanos() + 500) / 1000;
    write!(out, "{}.{:03}", micros / 1000, micros % 1000)
}

/// `time` as RFC 3339 UTC with milliseconds (`2023-11-14T22:13:20.123Z`).
fn push_time(out: &mut String, time: SystemTime) {
    let _ = write!(out, "{}", humantime::format_rfc3339_millis(time));
}

/// The process's access log, from `gateway.access_log` at startup.
pub struct AccessLog {
    sink: Option<Sink>,
}

struct Sink {
    format: AccessLogFormat,
    shared: Arc<Shared>,
    /// The writer thread's queue, created with the first line.
    queue: OnceLock<SyncSender<Chunk>>,
    /// The destination until the writer thread takes it.
    dest: Mutex<Option<Box<dyn Write + Send>>>,
    flush_interval: Duration,
}

struct Shared {
    /// Lines not yet handed to the writer.
    pending: Mutex<String>,
    /// Hand `pending` over once it holds this many bytes.
    capacity: usize,
    dropped: AtomicU64,
}

enum Chunk {
    Lines(String),
    /// Write everything pending, then acknowledge.
    Flush(SyncSender<()>),
}

impl AccessLog {
    /// No access log.
    pub fn off() -> Self {
        AccessLog { sink: None }
    }

    /// Lines to `dest`; `capacity` bytes are collected before a write.
    pub fn to_writer(
        dest: Box<dyn Write + Send>,
        format: AccessLogFormat,
        capacity: usize,
        flush_interval: Duration,
    ) -> Self {
        AccessLog {
            sink: Some(Sink {
                format,
                shared: Arc::new(Shared {
                    pending: Mutex::new(String::with_capacity(capacity)),
                    capacity,
                    dropped: AtomicU64::new(0),
                }),
                queue: OnceLock::new(),
                dest: Mutex::new(Some(dest)),
                flush_interval,
            }),
        }
    }

    /// Opens the destination `gateway.access_log` names (a file is opened
    /// for appending, relative to the config file's directory).
    pub fn open(loaded: &LoadedConfig) -> Result<Self, ConfigError> {
        let AccessLogSetting::On(cfg) = &loaded.config.gateway.access_log else {
            return Ok(AccessLog::off());
        };
        let dest: Box<dyn Write + Send> = match &cfg.path {
            None => Box::new(std::io::stderr()),
            Some(path) => {
                let full = loaded.source.base_dir().join(path);
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&full)
                    .map_err(|e| {
                        ConfigError::at(
                            &loaded.source.display_name(),
                            "gateway.access_log.path",
                            format!("cannot open {} for appending: {e}", full.display()),
                        )
                    })?;
                Box::new(file)
            }
        };
        Ok(AccessLog::to_writer(
            dest,
            cfg.format,
            cfg.buffer.as_usize(),
            cfg.flush_interval.0,
        ))
    }

    /// Whether lines are written at all.
    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Appends the record's line; never waits for I/O.
    pub fn log(&self, record: &AccessRecord<'_>) {
        let Some(sink) = &self.sink else { return };
        // Starts the writer with the first line, so the flush interval runs.
        let queue = sink.queue();
        let full = {
            let mut pending = lock(&sink.shared.pending);
            record.write_line(sink.format, &mut pending);
            if pending.len() < sink.shared.capacity.max(1) {
                return;
            }
            std::mem::replace(&mut *pending, String::with_capacity(sink.shared.capacity))
        };
        sink.hand_over(queue, full);
    }

    /// Writes every line logged so far and waits (at most `within`) until
    /// it is written. Called at shutdown.
    pub fn flush(&self, within: Duration) {
        let Some(sink) = &self.sink else { return };
        let (ack, done) = mpsc::sync_channel(1);
        if sink.queue().send(Chunk::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(within);
        }
    }
}

impl Sink {
    fn queue(&self) -> &SyncSender<Chunk> {
        self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::sync_channel(QUEUED_CHUNKS);
            let dest = lock(&self.dest)
                .take()
                .unwrap_or_else(|| Box::new(std::io::sink()));
            let shared = self.shared.clone();
            let interval = self.flush_interval;
            let spawned = std::thread::Builder::new()
                .name("access-log".into())
                .spawn(move || write_loop(rx, dest, &shared, interval));
            if let Err(e) = spawned {
                log::error!("access log: cannot start its writer thread: {e}");
            }
            tx
        })
    }

    /// Queues a full buffer for the writer, or counts its lines as dropped.
    fn hand_over(&self, queue: &SyncSender<Chunk>, lines: String) {
        match queue.try_send(Chunk::Lines(lines)) {
            Ok(()) => {}
            Err(TrySendError::Full(Chunk::Lines(lines)))
            | Err(TrySendError::Disconnected(Chunk::Lines(lines))) => {
                let n = lines.bytes().filter(|&b| b == b'\n').count() as u64;
                self.shared.dropped.fetch_add(n, Ordering::Relaxed);
            }
            Err(_) => {}
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The writer thread: writes handed-over buffers, and what is pending once
/// a line has waited `interval`, until every sender is gone.
fn write_loop(
    rx: Receiver<Chunk>,
    mut dest: Box<dyn Write + Send>,
    shared: &Shared,
    interval: Duration,
) {
    let write = |dest: &mut Box<dyn Write + Send>, text: &str| {
        if let Err(e) = dest.write_all(text.as_bytes()).and_then(|()| dest.flush()) {
            log::warn!("access log: write failed: {e}");
        }
    };
    loop {
        let taken = match rx.recv_timeout(interval) {
            Ok(Chunk::Lines(lines)) => {
                write(&mut dest, &lines);
                None
            }
            Ok(Chunk::Flush(ack)) => Some(Some(ack)),
            Err(RecvTimeoutError::Timeout) => Some(None),
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if let Some(ack) = taken {
            let fresh = String::with_capacity(shared.capacity);
            let pending = std::mem::replace(&mut *lock(&shared.pending), fresh);
            if !pending.is_empty() {
                write(&mut dest, &pending);
            }
            if let Some(ack) = ack {
                let _ = ack.send(());
            }
        }
        let dropped = shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            log::warn!("access log: {dropped} lines dropped: the destination is too slow");
        }
    }
}

#[cfg(test)]
mod tests;
