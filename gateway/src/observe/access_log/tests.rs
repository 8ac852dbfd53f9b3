use super::*;
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::{Instant, UNIX_EPOCH};

#[test]
fn line_breaking_bytes_are_escaped() {
    assert_eq!(Escaped("/plain/path").to_string(), "/plain/path");
    assert_eq!(Escaped("/a\"b\\c\nd").to_string(), "/a\\\"b\\\\c\\x0ad");
    assert_eq!(Escaped("caf\u{e9}").to_string(), "caf\\xc3\\xa9");
    assert_eq!(
        JsonEscaped("/a\"b\\c\nd\u{1}caf\u{e9}").to_string(),
        "/a\\\"b\\\\c\\u000ad\\u0001caf\u{e9}"
    );
}

fn record<'a>(path: &'a str, error: Option<&'a dyn fmt::Display>) -> AccessRecord<'a> {
    AccessRecord {
        time: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        method: "GET",
        path,
        status: 502,
        route: "api",
        cluster: "app",
        endpoint: "a1",
        attempts: 2,
        duration: Duration::from_micros(1500),
        request_id: "abc",
        error,
    }
}

#[test]
fn text_line_has_every_field_and_escapes_the_path() {
    let mut out = String::new();
    record("/x\"y\n", Some(&"boom \"now\"")).write_line(AccessLogFormat::Text, &mut out);
    assert_eq!(
        out,
        "time=2023-11-14T22:13:20.123Z method=GET path=\"/x\\\"y\\x0a\" status=502 route=api \
         cluster=app endpoint=a1 attempts=2 duration_ms=1.500 request_id=abc \
         error=\"boom \\\"now\\\"\"\n"
    );
}

/// Times and durations as the line shows them: each second its own (the
/// per-second prefix is cached), milliseconds truncated, durations rounded
/// to the microsecond.
#[test]
fn times_and_durations_are_formatted_per_record() {
    let cases = [
        (
            1_700_000_000_123,
            1_499_600,
            "2023-11-14T22:13:20.123Z",
            "1.500",
        ),
        (
            1_700_000_000_999,
            999_999_499,
            "2023-11-14T22:13:20.999Z",
            "999.999",
        ),
        (
            1_700_000_001_000,
            999_999_500,
            "2023-11-14T22:13:21.000Z",
            "1000.000",
        ),
        (1_700_000_000_007, 0, "2023-11-14T22:13:20.007Z", "0.000"),
        (
            86_400_000,
            12_345_678_901,
            "1970-01-02T00:00:00.000Z",
            "12345.679",
        ),
    ];
    for (millis, nanos, time, duration) in cases {
        let mut r = record("/", None);
        r.time = UNIX_EPOCH + Duration::from_millis(millis);
        r.duration = Duration::from_nanos(nanos);
        let mut out = String::new();
        r.write_line(AccessLogFormat::Text, &mut out);
        assert!(out.starts_with(&format!("time={time} ")), "{out}");
        assert!(out.contains(&format!(" duration_ms={duration} ")), "{out}");
        let mut json = String::new();
        r.write_line(AccessLogFormat::Json, &mut json);
        let v: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
        assert_eq!(v["time"], time);
        assert_eq!(v["duration_ms"].as_f64(), duration.parse::<f64>().ok());
    }
}

#[test]
fn json_line_is_one_valid_object_even_for_hostile_values() {
    let mut out = String::new();
    let path = "/x\"y\n\u{1}\\caf\u{e9}";
    record(path, Some(&"bad\r\nthing")).write_line(AccessLogFormat::Json, &mut out);
    assert_eq!(out.matches('\n').count(), 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
    assert_eq!(v["path"], path);
    assert_eq!(v["error"], "bad\r\nthing");
    assert_eq!(v["status"], 502);
    assert_eq!(v["attempts"], 2);
    assert_eq!(v["duration_ms"], 1.5);
    assert_eq!(v["time"], "2023-11-14T22:13:20.123Z");
    assert_eq!(v["request_id"], "abc");
    let mut no_error = String::new();
    record("/", None).write_line(AccessLogFormat::Json, &mut no_error);
    let v: serde_json::Value = serde_json::from_str(no_error.trim_end()).unwrap();
    assert!(v.get("error").is_none(), "{no_error}");
}

/// A destination tests can read, optionally held shut until released.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn path_of(line: &str) -> &str {
    line.split(' ')
        .find_map(|f| f.strip_prefix("path="))
        .unwrap()
}

#[test]
fn buffered_lines_wait_for_the_buffer_and_are_all_written_by_flush() {
    let out = Captured::default();
    let log = AccessLog::to_writer(
        Box::new(out.clone()),
        AccessLogFormat::Text,
        64 * 1024,
        Duration::from_secs(3600),
    );
    for p in ["/1", "/2", "/3"] {
        log.log(&record(p, None));
    }
    assert!(out.lines().is_empty(), "three short lines stay buffered");
    log.flush(Duration::from_secs(5));
    let lines = out.lines();
    let paths: Vec<&str> = lines.iter().map(|l| path_of(l)).collect();
    assert_eq!(paths, ["\"/1\"", "\"/2\"", "\"/3\""]);
}

fn wait_for_lines(out: &Captured, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines = out.lines();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_full_buffer_and_the_flush_interval_each_trigger_a_write() {
    let out = Captured::default();
    let log = AccessLog::to_writer(
        Box::new(out.clone()),
        AccessLogFormat::Text,
        1,
        Duration::from_secs(3600),
    );
    log.log(&record("/full", None));
    assert_eq!(wait_for_lines(&out, 1).len(), 1, "a full buffer is written");

    let out = Captured::default();
    let log = AccessLog::to_writer(
        Box::new(out.clone()),
        AccessLogFormat::Text,
        64 * 1024,
        Duration::from_millis(50),
    );
    log.log(&record("/first", None));
    // The writer starts with the first line; the second waits in the buffer.
    log.log(&record("/waiting", None));
    assert_eq!(
        wait_for_lines(&out, 2).len(),
        2,
        "buffered lines are written once the interval passes"
    );
}

/// A destination that blocks every write until the test releases it.
struct Stalled {
    out: Captured,
    release: Mutex<Receiver<()>>,
}

impl Write for Stalled {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.release.lock().unwrap().recv();
        self.out.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_stalled_destination_drops_lines_instead_of_blocking_requests() {
    let out = Captured::default();
    let (release, released) = mpsc::channel();
    let log = AccessLog::to_writer(
        Box::new(Stalled {
            out: out.clone(),
            release: Mutex::new(released),
        }),
        AccessLogFormat::Text,
        1,
        Duration::from_secs(3600),
    );
    // Every line is its own chunk; the writer is stuck on the first one.
    let total = 5 * QUEUED_CHUNKS;
    for i in 0..total {
        log.log(&record(&format!("/{i}"), None));
    }
    // Reaching this point means no `log` call waited for the destination.
    drop(release);
    log.flush(Duration::from_secs(5));
    let written = out.lines().len();
    assert!(
        (QUEUED_CHUNKS..total).contains(&written),
        "{written} of {total} lines written: the queue's worth, the rest dropped"
    );
}

/// The `path=` values of the lines in `file`.
fn paths_in(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| path_of(l).trim_matches('"').to_string())
        .collect()
}

#[test]
fn reopen_writes_what_was_logged_to_the_old_file_and_the_rest_to_the_new() {
    let dir = tempfile::tempdir().unwrap();
    let (current, rotated) = (
        dir.path().join("access.log"),
        dir.path().join("access.log.1"),
    );
    // One full buffer handed over per two lines, one line left pending.
    let mut line = String::new();
    record("/0", None).write_line(AccessLogFormat::Text, &mut line);
    // The file as the operator prepared it: a new one gets its mode.
    std::fs::File::create(&current).unwrap();
    std::fs::set_permissions(&current, Permissions::from_mode(0o604)).unwrap();
    let log = AccessLog::to_file(
        current.clone(),
        AccessLogFormat::Text,
        line.len() * 2,
        Duration::from_secs(3600),
    )
    .unwrap();
    assert_eq!(log.path(), Some(current.as_path()));
    for p in ["/1", "/2", "/3"] {
        log.log(&record(p, None));
    }
    std::fs::rename(&current, &rotated).unwrap();
    let outcome = log.reopen(Duration::from_secs(5));
    assert!(
        matches!(&outcome, Reopen::Reopened(p) if *p == current),
        "{outcome:?}"
    );
    assert_eq!(
        paths_in(&rotated),
        ["/1", "/2", "/3"],
        "written by the reopen"
    );
    let mode = std::fs::metadata(&current).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o604,
        "created by the reopen, as the first was"
    );
    for p in ["/4", "/5"] {
        log.log(&record(p, None));
    }
    log.flush(Duration::from_secs(5));
    assert_eq!(paths_in(&rotated), ["/1", "/2", "/3"]);
    assert_eq!(paths_in(&current), ["/4", "/5"]);
}

#[test]
fn a_failed_reopen_keeps_writing_to_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let (current, rotated) = (
        dir.path().join("access.log"),
        dir.path().join("access.log.1"),
    );
    let log = AccessLog::to_file(
        current.clone(),
        AccessLogFormat::Text,
        64 * 1024,
        Duration::from_secs(3600),
    )
    .unwrap();
    log.log(&record("/1", None));
    std::fs::rename(&current, &rotated).unwrap();
    // A directory cannot be opened for appending.
    std::fs::create_dir(&current).unwrap();
    let outcome = log.reopen(Duration::from_secs(5));
    assert!(
        matches!(&outcome, Reopen::Failed(p, _) if *p == current),
        "{outcome:?}"
    );
    log.log(&record("/2", None));
    log.flush(Duration::from_secs(5));
    assert_eq!(paths_in(&rotated), ["/1", "/2"]);
}

#[test]
fn stderr_and_off_have_nothing_to_reopen() {
    let out = Captured::default();
    let log = AccessLog::to_writer(
        Box::new(out.clone()),
        AccessLogFormat::Text,
        64 * 1024,
        Duration::from_secs(3600),
    );
    log.log(&record("/1", None));
    let outcome = log.reopen(Duration::from_secs(5));
    assert!(matches!(outcome, Reopen::NotAFile), "{outcome:?}");
    assert!(matches!(
        AccessLog::off().reopen(Duration::from_secs(5)),
        Reopen::Off
    ));
    log.flush(Duration::from_secs(5));
    assert_eq!(out.lines().len(), 1);
}
