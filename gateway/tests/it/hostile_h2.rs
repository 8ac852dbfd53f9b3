//! Hostile HTTP/2 clients on an h2c listener, written frame by frame:
//! rapid reset, CONTINUATION flood, more streams than advertised and an
//! oversized header list. Each test checks that the gateway refuses the
//! abuse (GOAWAY, RST_STREAM or a closed connection), that normal HTTP/1.1
//! and h2c clients keep getting 200 during and after it, that nothing the
//! attacker sent reaches the upstream beyond what the limits allow, and
//! that the gateway's peak resident memory stays within a sanity bound.

use crate::common;
use crate::common::h2raw::{
    frame, literal, request_block, rss_kib, rst_stream, H2Conn, CANCEL, CONTINUATION, END_HEADERS,
    END_STREAM, HEADERS, REFUSED_STREAM, SETTINGS_MAX_CONCURRENT_STREAMS,
};
use crate::common::recorder::Recorder;
use crate::common::start;
use harness::{GatewayProcess, Template};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

const CONFIG: &str = r#"
version: 1
threads: 1
grace_period_seconds: 1
graceful_shutdown_timeout_seconds: 1
gateway:
  listeners:
    - { address: "127.0.0.1:${port.proxy}" }
    - { address: "127.0.0.1:${port.h2c}", h2c: true }
  admin: { address: "127.0.0.1:${port.admin}" }
  clusters:
    main: { endpoints: [ { address: "${upstream.main}", name: main } ] }
  routes:
    - { name: main, match: { path_prefix: / }, cluster: main }
"#;

/// Sanity limit on how far the gateway's peak RSS may rise over its
/// resident size before the attack. Not a performance target: a leak or an
/// unbounded buffer per frame would blow far past it.
const RSS_GROWTH_LIMIT_KIB: u64 = 200 * 1024;

/// How long the frame reader keeps listening.
const READ_FOR: Duration = Duration::from_secs(15);

struct Setup {
    gw: GatewayProcess,
    upstream: Recorder,
    rss_before_kib: u64,
}

async fn setup() -> Setup {
    let upstream = Recorder::start().await;
    let gw = start(&Template::new(CONFIG).upstream("main", upstream.addr())).await;
    let (rss_before_kib, _) = rss_kib(gw.pid());
    assert!(rss_before_kib > 0, "cannot read /proc/{}/status", gw.pid());
    Setup {
        gw,
        upstream,
        rss_before_kib,
    }
}

impl Setup {
    fn h2c_addr(&self) -> std::net::SocketAddr {
        let port = self.gw.var("port.h2c").and_then(|p| p.parse().ok());
        std::net::SocketAddr::from(([127, 0, 0, 1], port.expect("h2c port")))
    }

    /// Asserts the gateway's peak RSS stayed under the sanity bound.
    fn assert_memory_bounded(&self, what: &str) {
        let (now, peak) = rss_kib(self.gw.pid());
        let growth = peak.saturating_sub(self.rss_before_kib);
        eprintln!(
            "{what}: RSS before {} KiB, now {now} KiB, peak {peak} KiB",
            self.rss_before_kib
        );
        assert!(
            growth < RSS_GROWTH_LIMIT_KIB,
            "{what}: peak RSS grew by {growth} KiB (limit {RSS_GROWTH_LIMIT_KIB} KiB)"
        );
    }
}

/// Normal clients, one HTTP/1.1 and one h2c, each sending GETs until
/// `stop` is set or `max` requests were sent; returns (h1, h2c) statuses.
fn normal_clients(
    s: &Setup,
    max: usize,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(Vec<u16>, Vec<u16>)> {
    let h1_url = s.gw.url("/normal");
    let h2_url = format!("http://{}/normal", s.h2c_addr());
    tokio::spawn(async move {
        let h1 = common::client();
        let h2 = reqwest::Client::builder()
            .http2_prior_knowledge()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("h2c client");
        let status = |r: Result<reqwest::Response, reqwest::Error>| match r {
            Ok(r) => r.status().as_u16(),
            Err(e) => {
                eprintln!("normal request failed: {e:?}");
                0
            }
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..max {
            if stop.load(SeqCst) && a.len() >= 5 {
                break;
            }
            a.push(status(h1.get(&h1_url).send().await));
            b.push(status(h2.get(&h2_url).send().await));
        }
        (a, b)
    })
}

/// Runs `attack` while normal clients send requests, then checks that every
/// normal request got 200, before and after, and that memory stayed bounded.
async fn with_normal_traffic<F, Fut, T>(s: &Setup, what: &str, attack: F) -> T
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let stop = Arc::new(AtomicBool::new(false));
    let during = normal_clients(s, 200, stop.clone());
    let result = attack().await;
    stop.store(true, SeqCst);
    let (h1, h2) = during.await.expect("normal clients");
    assert!(
        h1.iter().all(|s| *s == 200) && h2.iter().all(|s| *s == 200),
        "{what}: normal clients during the attack: h1 {h1:?}, h2c {h2:?}"
    );
    let after = normal_clients(s, 5, Arc::new(AtomicBool::new(true)));
    let (h1, h2) = after.await.expect("normal clients");
    assert_eq!(
        (h1, h2),
        (vec![200; 5], vec![200; 5]),
        "{what}: after the attack"
    );
    s.assert_memory_bounded(what);
    result
}

fn attack_requests(rec: &Recorder, path: &str) -> usize {
    rec.targets().iter().filter(|t| *t == path).count()
}

/// CVE-2023-44487: open and immediately reset 10,000 streams. The h2 layer
/// answers with GOAWAY once resets outpace accepted streams; only a bounded
/// number of the reset streams is proxied.
#[tokio::test(flavor = "multi_thread")]
async fn rapid_reset_is_cut_off() {
    let s = setup().await;
    let (seen, sent) = with_normal_traffic(&s, "rapid reset", || async {
        let mut conn = H2Conn::open(s.h2c_addr(), READ_FOR).await;
        let block = request_block("GET", "/rapid-reset");
        let mut sent = 0u32;
        'attack: for batch in 0..100u32 {
            let mut bytes = Vec::new();
            for i in 0..100u32 {
                let stream = 2 * (batch * 100 + i) + 1;
                bytes.extend(frame(HEADERS, END_HEADERS | END_STREAM, stream, &block));
                bytes.extend(rst_stream(stream, CANCEL));
            }
            if !conn.send(&bytes).await {
                break 'attack;
            }
            sent += 100;
        }
        (conn.close().await, sent)
    })
    .await;
    let proxied = attack_requests(&s.upstream, "/rapid-reset");
    eprintln!(
        "rapid reset: sent {sent} stream+reset pairs, GOAWAY {:?}, {} resets back, {proxied} proxied",
        seen.goaway,
        seen.resets.len()
    );
    assert!(
        seen.goaway.is_some(),
        "no GOAWAY after {sent} opened-and-reset streams: {seen:?}"
    );
    assert!(
        proxied < 10_000,
        "every reset stream was proxied ({proxied})"
    );
}

/// CVE-2024-27316 class: a HEADERS frame without END_HEADERS followed by
/// CONTINUATION frames without end. The connection is closed (GOAWAY or
/// EOF) long before 100,000 frames; nothing reaches the upstream.
#[tokio::test(flavor = "multi_thread")]
async fn continuation_flood_is_cut_off() {
    let s = setup().await;
    let (seen, sent) = with_normal_traffic(&s, "continuation flood", || async {
        let mut conn = H2Conn::open(s.h2c_addr(), READ_FOR).await;
        let ok = conn
            .send(&frame(
                HEADERS,
                0,
                1,
                &request_block("GET", "/continuation"),
            ))
            .await;
        assert!(ok, "the first HEADERS frame could not be written");
        let mut sent = 0u32;
        'attack: for batch in 0..100u32 {
            let mut bytes = Vec::new();
            for i in 0..1000u32 {
                let mut block = Vec::new();
                literal(&mut block, &format!("x-f{}", batch * 1000 + i), b"v");
                bytes.extend(frame(CONTINUATION, 0, 1, &block));
            }
            if !conn.send(&bytes).await {
                break 'attack;
            }
            sent += 1000;
        }
        (conn.close().await, sent)
    })
    .await;
    eprintln!(
        "continuation flood: {sent} CONTINUATION frames written before the gateway stopped reading, GOAWAY {:?}, closed {}",
        seen.goaway, seen.closed
    );
    assert!(
        seen.goaway.is_some() || sent < 100_000,
        "the gateway read 100,000 CONTINUATION frames without objecting: {seen:?}"
    );
    assert_eq!(attack_requests(&s.upstream, "/continuation"), 0);
    assert!(seen.responses.is_empty(), "{seen:?}");
}

/// Streams beyond the advertised SETTINGS_MAX_CONCURRENT_STREAMS are
/// refused with RST_STREAM(REFUSED_STREAM) (or the connection is closed);
/// at most the advertised number reaches the upstream.
#[tokio::test(flavor = "multi_thread")]
async fn streams_beyond_max_concurrent_are_refused() {
    let s = setup().await;
    let extra = 50;
    let (seen, max) = with_normal_traffic(&s, "stream flood", || async {
        let mut conn = H2Conn::open(s.h2c_addr(), READ_FOR).await;
        let max = conn
            .settings
            .iter()
            .find(|(id, _)| *id == SETTINGS_MAX_CONCURRENT_STREAMS)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| {
                panic!(
                    "the h2c listener advertises no SETTINGS_MAX_CONCURRENT_STREAMS: {:?}",
                    conn.settings
                )
            });
        assert!(max <= 1000, "max_concurrent_streams {max} is not a bound");
        // Streams that stay open: POST headers without END_STREAM.
        let block = request_block("POST", "/hold");
        let mut bytes = Vec::new();
        for i in 0..max + extra {
            bytes.extend(frame(HEADERS, END_HEADERS, 2 * i + 1, &block));
        }
        conn.send(&bytes).await;
        // Wait (bounded) until the refusals or a GOAWAY are in, then close.
        let wait = harness::wait::until(
            "the held streams to reach the upstream",
            Duration::from_secs(10),
            || async {
                let held = s
                    .upstream
                    .started()
                    .iter()
                    .filter(|l| l.starts_with("POST /hold "))
                    .count();
                (held > 0).then_some(())
            },
        )
        .await;
        wait.expect("no held stream reached the upstream");
        (conn.close().await, max)
    })
    .await;
    let refused = seen.resets_with(REFUSED_STREAM);
    let held = s
        .upstream
        .started()
        .iter()
        .filter(|l| l.starts_with("POST /hold "))
        .count();
    eprintln!(
        "stream flood: max_concurrent_streams {max}, {refused} refused, GOAWAY {:?}, {held} held streams reached the upstream",
        seen.goaway
    );
    assert!(
        refused >= extra as usize || seen.goaway.is_some(),
        "{extra} streams over the limit of {max} were neither refused nor cut off: {seen:?}"
    );
    assert!(
        held <= max as usize,
        "{held} held streams reached the upstream, more than the {max} admitted"
    );
}

/// A 256 KiB header list (over Pingora's 64 KiB h2 limit), sent as HEADERS
/// plus CONTINUATION frames of 16 KiB: the stream is refused or answered
/// by the h2 layer (431), never proxied.
#[tokio::test(flavor = "multi_thread")]
async fn oversized_header_list_is_not_proxied() {
    let s = setup().await;
    let seen = with_normal_traffic(&s, "oversized header list", || async {
        let mut conn = H2Conn::open(s.h2c_addr(), READ_FOR).await;
        let mut block = request_block("GET", "/big");
        for i in 0..16 {
            literal(&mut block, &format!("x-big{i}"), &[b'a'; 16 * 1024]);
        }
        let chunks: Vec<&[u8]> = block.chunks(16 * 1024).collect();
        let mut bytes = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            let (kind, flags) = match (i, last) {
                (0, true) => (HEADERS, END_HEADERS | END_STREAM),
                (0, false) => (HEADERS, END_STREAM),
                (_, true) => (CONTINUATION, END_HEADERS),
                (_, false) => (CONTINUATION, 0),
            };
            bytes.extend(frame(kind, flags, 1, chunk));
        }
        conn.send(&bytes).await;
        conn.close().await
    })
    .await;
    eprintln!(
        "oversized header list: responses on {:?}, resets {:?}, GOAWAY {:?}",
        seen.responses, seen.resets, seen.goaway
    );
    assert_eq!(
        attack_requests(&s.upstream, "/big"),
        0,
        "{}",
        s.upstream.summary()
    );
    assert!(
        seen.responses.contains(&1)
            || seen.resets.iter().any(|(id, _)| *id == 1)
            || seen.goaway.is_some(),
        "stream 1 got neither a response, a reset nor a GOAWAY: {seen:?}"
    );
}
