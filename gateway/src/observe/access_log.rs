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
//!
//! A file destination can be reopened at its path ([`AccessLog::reopen`],
//! for logrotate: SIGUSR1 and `POST /logs/reopen` in `crate::control`).
//! The writer thread does it between two writes: every line handed over
//! before goes to the old file, every line after to the new one.

use crate::config::{AccessLogFormat, AccessLogSetting, ConfigError, LoadedConfig};
use crate::observe::metrics::{reopen_result, METRICS};
use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

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
    /// The file `dest` was opened from (`None`: stderr or another writer).
    file: Option<LogFile>,
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
    /// Write everything pending to the current file, then open the path
    /// again and write there from now on; answer with the open's result.
    Reopen(LogFile, SyncSender<io::Result<()>>),
}

/// The access log's file: where it is, and the permissions a new one gets.
#[derive(Debug, Clone)]
struct LogFile {
    /// Absolute, so a reopen after `-d` (which changes the working
    /// directory) finds the same file.
    path: PathBuf,
    /// The permission bits of the file at startup.
    mode: u32,
}

/// What [`AccessLog::reopen`] did.
#[derive(Debug)]
pub(crate) enum Reopen {
    /// The file was opened again at its path: later lines go there.
    Reopened(PathBuf),
    /// The access log is off: nothing to reopen.
    Off,
    /// The lines go to stderr, not to a file: nothing to reopen.
    NotAFile,
    /// The path could not be opened; lines still go to the file open
    /// before (logged and counted by the writer).
    Failed(PathBuf, io::Error),
    /// The writer did not answer in time; it reopens the file when it
    /// gets to the request.
    Pending(PathBuf),
}

/// Opens `path` for appending, creating it if missing (0666 less the
/// umask).
fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl LogFile {
    /// Opens the path again for appending. A file already there (created
    /// by logrotate's `create`) is used as it is; a missing one is created
    /// with the permissions the file had at startup, whatever the umask
    /// is now (`-d` changes it).
    fn reopen(&self) -> io::Result<File> {
        match OpenOptions::new().append(true).open(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            opened => return opened,
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(self.mode)
            .open(&self.path)?;
        if let Err(e) = file.set_permissions(Permissions::from_mode(self.mode)) {
            log::warn!(
                "access log: cannot give {} the mode {:o}: {e}",
                self.path.display(),
                self.mode
            );
        }
        Ok(file)
    }
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
                file: None,
                flush_interval,
            }),
        }
    }

    /// Lines appended to the file at `path` (created if missing), which
    /// [`Self::reopen`] opens again.
    pub(crate) fn to_file(
        path: PathBuf,
        format: AccessLogFormat,
        capacity: usize,
        flush_interval: Duration,
    ) -> io::Result<Self> {
        let path = std::path::absolute(&path).unwrap_or(path);
        let file = open_append(&path)?;
        let mode = file.metadata()?.permissions().mode() & 0o777;
        let mut log = AccessLog::to_writer(Box::new(file), format, capacity, flush_interval);
        if let Some(sink) = &mut log.sink {
            sink.file = Some(LogFile { path, mode });
        }
        Ok(log)
    }

    /// Opens the destination `gateway.access_log` names (a file is opened
    /// for appending, relative to the config file's directory).
    pub fn open(loaded: &LoadedConfig) -> Result<Self, ConfigError> {
        let AccessLogSetting::On(cfg) = &loaded.config.gateway.access_log else {
            return Ok(AccessLog::off());
        };
        let (format, capacity, interval) =
            (cfg.format, cfg.buffer.as_usize(), cfg.flush_interval.0);
        let Some(path) = &cfg.path else {
            let stderr = Box::new(std::io::stderr());
            return Ok(AccessLog::to_writer(stderr, format, capacity, interval));
        };
        let full = loaded.source.base_dir().join(path);
        AccessLog::to_file(full.clone(), format, capacity, interval).map_err(|e| {
            ConfigError::at(
                &loaded.source.display_name(),
                "gateway.access_log.path",
                format!("cannot open {} for appending: {e}", full.display()),
            )
        })
    }

    /// Whether lines are written at all.
    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// The file the lines go to (`None`: off, or stderr).
    pub(crate) fn path(&self) -> Option<&Path> {
        Some(self.sink.as_ref()?.file.as_ref()?.path.as_path())
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

    /// Opens the file again at its path (after logrotate renamed it) and
    /// waits (at most `within`) until the writer did: every line logged
    /// before is written to the old file first, every line after goes to
    /// the new one. Stderr is not reopened. A failed open is logged and
    /// counted once, and the lines keep going to the old file. Blocks:
    /// call it off the request path.
    pub(crate) fn reopen(&self, within: Duration) -> Reopen {
        let Some(sink) = &self.sink else {
            log::debug!("access log reopen: the access log is off, nothing to reopen");
            return Reopen::Off;
        };
        let Some(file) = &sink.file else {
            log::debug!("access log reopen: the lines go to stderr, nothing to reopen");
            return Reopen::NotAFile;
        };
        let deadline = Instant::now() + within;
        let (ack, done) = mpsc::sync_channel(1);
        let path = &file.path;
        if !send_by(sink.queue(), Chunk::Reopen(file.clone(), ack), deadline) {
            return Reopen::Pending(path.clone());
        }
        match done.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok(())) => Reopen::Reopened(path.clone()),
            Ok(Err(e)) => Reopen::Failed(path.clone(), e),
            Err(_) => Reopen::Pending(path.clone()),
        }
    }
}

/// Queues `chunk` for the writer, waiting for room until `deadline`;
/// `false` when it was not queued (no room in time, or no writer).
fn send_by(queue: &SyncSender<Chunk>, mut chunk: Chunk, deadline: Instant) -> bool {
    loop {
        match queue.try_send(chunk) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(back)) => {
                if Instant::now() >= deadline {
                    return false;
                }
                chunk = back;
                std::thread::sleep(Duration::from_millis(1));
            }
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
    let write_pending = |dest: &mut Box<dyn Write + Send>| {
        let fresh = String::with_capacity(shared.capacity);
        let pending = std::mem::replace(&mut *lock(&shared.pending), fresh);
        if !pending.is_empty() {
            write(dest, &pending);
        }
    };
    loop {
        match rx.recv_timeout(interval) {
            Ok(Chunk::Lines(lines)) => write(&mut dest, &lines),
            Ok(Chunk::Flush(ack)) => {
                write_pending(&mut dest);
                let _ = ack.send(());
            }
            Ok(Chunk::Reopen(file, ack)) => {
                // Everything logged until now belongs to the old file.
                write_pending(&mut dest);
                let _ = ack.send(reopen(&file, &mut dest));
            }
            Err(RecvTimeoutError::Timeout) => write_pending(&mut dest),
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let dropped = shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            log::warn!("access log: {dropped} lines dropped: the destination is too slow");
        }
    }
}

/// Opens the file again and makes it the destination; on failure keeps
/// the old one. Logged and counted in `gateway_access_log_reopens_total`.
fn reopen(file: &LogFile, dest: &mut Box<dyn Write + Send>) -> io::Result<()> {
    let path = &file.path;
    match file.reopen() {
        Ok(opened) => {
            // The old file is closed here: its lines are all written.
            *dest = Box::new(opened);
            METRICS
                .access_log_reopens
                .with_label_values(&[reopen_result::OK])
                .inc();
            log::info!("access log: reopened {}", path.display());
            Ok(())
        }
        Err(e) => {
            METRICS
                .access_log_reopens
                .with_label_values(&[reopen_result::ERROR])
                .inc();
            log::error!(
                "access log: cannot reopen {}, lines still go to the file open before: {e}",
                path.display()
            );
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests;
