//! Hostile HTTP/1.x clients over raw TCP against the real binary: request
//! smuggling through ambiguous framing, malformed header fields, header
//! floods, slow clients and pipelining. Every upstream is a [`Recorder`], so
//! each test asserts exactly what reached it: never a smuggled second
//! request, never a request with framing an upstream could read differently.
//!
//! Statuses marked "Pingora" are answered by Pingora's HTTP/1 parser before
//! any gateway hook runs; docs/SECURITY.md lists them all.

use crate::common::raw::{RawConn, RawResponse, EXCHANGE_DEADLINE};
use crate::common::recorder::Recorder;
use crate::common::{self, config, start};
use harness::{GatewayProcess, Template};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUTES: &str = r#"
clusters:
  main: { endpoints: [ { address: "${upstream.main}", name: main } ] }
  other: { endpoints: [ { address: "${upstream.other}", name: other } ] }
routes:
  - { name: main, match: { path_prefix: / }, cluster: main }
  - { name: other, match: { host: other.test, path_prefix: / }, cluster: other }
"#;

/// The gateway in front of two recorders: `other` serves host `other.test`,
/// `main` everything else.
struct Setup {
    gw: GatewayProcess,
    main: Recorder,
    other: Recorder,
}

async fn setup() -> Setup {
    let main = Recorder::start().await;
    let other = Recorder::start().await;
    let template = Template::new(&config(ROUTES))
        .upstream("main", main.addr())
        .upstream("other", other.addr());
    let gw = start(&template).await;
    Setup { gw, main, other }
}

/// What a client saw on one connection.
#[derive(Debug)]
struct Outcome {
    /// Statuses in order, the probe's included when the connection stayed open.
    statuses: Vec<u16>,
    /// Whether the gateway closed the connection before the probe was answered.
    closed_early: bool,
    responses: Vec<RawResponse>,
}

const PROBE: &[u8] = b"GET /probe HTTP/1.1\r\nHost: main.test\r\nConnection: close\r\n\r\n";

/// Sends `payload` on a new connection and reads the first response; then,
/// so that anything the gateway would still do with the connection shows up,
/// sends a `Connection: close` probe for `/probe` and reads every response
/// until the gateway closes. A smuggled request would be answered between
/// the first response and the probe's.
async fn exchange(gw: &GatewayProcess, payload: &[u8]) -> Outcome {
    let mut conn = RawConn::connect(gw.proxy_addr()).await;
    conn.send(payload).await;
    let mut responses: Vec<RawResponse> =
        conn.response(EXCHANGE_DEADLINE).await.into_iter().collect();
    conn.send(PROBE).await;
    let (rest, closed) = conn.responses_until_close(EXCHANGE_DEADLINE).await;
    assert!(
        closed,
        "the gateway neither answered the probe nor closed the connection within {EXCHANGE_DEADLINE:?}; unparsed: {:?}",
        conn.pending()
    );
    let probe_answered = rest.iter().any(|r| r.header("x-target") == Some("/probe"));
    responses.extend(rest);
    Outcome {
        statuses: responses.iter().map(|r| r.status).collect(),
        closed_early: !probe_answered,
        responses,
    }
}

/// Every upstream request is an `/attack…` target (each at most once) or the
/// probe, and nothing reached an upstream with framing it could read
/// differently from the gateway.
fn assert_nothing_smuggled(s: &Setup, outcome: &Outcome) {
    for rec in [&s.main, &s.other] {
        let targets = rec.targets();
        assert!(
            targets
                .iter()
                .all(|t| t.starts_with("/attack") || t == "/probe"),
            "a smuggled request reached the upstream: {}; client saw {:?}",
            rec.summary(),
            outcome.statuses
        );
        let mut attacks: Vec<&String> = targets.iter().filter(|t| *t != "/probe").collect();
        let n = attacks.len();
        attacks.sort();
        attacks.dedup();
        assert_eq!(
            attacks.len(),
            n,
            "an attack request was forwarded more than once: {}",
            rec.summary()
        );
        assert!(
            rec.violations().is_empty(),
            "the upstream got ambiguous framing: {}",
            rec.summary()
        );
    }
}

/// The smuggled request every payload tries to sneak through.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: main.test\r\n\r\n";

// ---------------------------------------------------------------- framing

/// RFC 9112 §6.1: Transfer-Encoding overrides Content-Length and the
/// connection must close after the response. Pingora drops the
/// Content-Length, reads the chunked body and disables keep-alive, so the
/// bytes after the last chunk are never parsed as a request.
#[tokio::test(flavor = "multi_thread")]
async fn content_length_and_chunked_together_use_chunked_and_close() {
    let s = setup().await;
    let body = format!("0\r\n\r\n{SMUGGLED}");
    let payload = format!(
        "POST /attack HTTP/1.1\r\nHost: main.test\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n{body}",
        body.len()
    );
    let out = exchange(&s.gw, payload.as_bytes()).await;
    assert_eq!(out.statuses, [200], "{out:?}");
    assert!(
        out.closed_early,
        "keep-alive must be off after CL+TE: {out:?}"
    );
    assert_eq!(out.responses[0].header("x-target"), Some("/attack"));
    assert_nothing_smuggled(&s, &out);
    let reqs = s.main.requests();
    assert_eq!(reqs.len(), 1, "{}", s.main.summary());
    assert!(
        reqs[0].body.is_empty(),
        "chunked framing gives an empty body"
    );
}

/// The reverse (TE.CL): a short Content-Length hides a smuggled request
/// inside the chunked body. The chunked reading wins, so the smuggled text is
/// body bytes, forwarded as such.
#[tokio::test(flavor = "multi_thread")]
async fn chunked_body_wins_over_short_content_length() {
    let s = setup().await;
    let inner = format!("X{SMUGGLED}");
    let payload = format!(
        "POST /attack HTTP/1.1\r\nHost: main.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{inner}\r\n0\r\n\r\n",
        inner.len()
    );
    let out = exchange(&s.gw, payload.as_bytes()).await;
    assert_eq!(out.statuses, [200], "{out:?}");
    assert!(
        out.closed_early,
        "keep-alive must be off after CL+TE: {out:?}"
    );
    assert_nothing_smuggled(&s, &out);
    let reqs = s.main.requests();
    assert_eq!(reqs.len(), 1, "{}", s.main.summary());
    assert_eq!(String::from_utf8_lossy(&reqs[0].body), inner);
}

/// RFC 9110 §8.6: differing Content-Length values are unrecoverable: 400,
/// nothing forwarded.
#[tokio::test(flavor = "multi_thread")]
async fn conflicting_content_lengths_are_rejected() {
    let s = setup().await;
    for lengths in [
        "Content-Length: 5\r\nContent-Length: 41\r\n",
        "Content-Length: 5, 41\r\n",
        "Content-Length: 41\r\nContent-Length: 5\r\n",
    ] {
        let payload =
            format!("POST /attack HTTP/1.1\r\nHost: main.test\r\n{lengths}\r\nhello{SMUGGLED}");
        let out = exchange(&s.gw, payload.as_bytes()).await;
        assert_eq!(out.statuses, [400], "{lengths:?}: {out:?}");
        assert!(out.closed_early, "{lengths:?}: {out:?}");
    }
    assert_eq!(s.main.requests().len(), 0, "{}", s.main.summary());
    assert_eq!(s.main.connections(), 0, "{}", s.main.summary());
}

/// Identical duplicates (`5` twice, or `5, 5`) are one length (RFC 9110
/// §8.6 allows collapsing them): one request with the 5-byte body.
#[tokio::test(flavor = "multi_thread")]
async fn identical_duplicate_content_lengths_frame_one_body() {
    let s = setup().await;
    let payload = "POST /attack HTTP/1.1\r\nHost: main.test\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let out = exchange(&s.gw, payload.as_bytes()).await;
    assert_eq!(out.statuses, [200], "{out:?}");
    let reqs = s.main.requests();
    assert_eq!(reqs.len(), 1, "{}", s.main.summary());
    assert_eq!(reqs[0].body, b"hello");
}

/// Having accepted duplicate lengths as one, the gateway must forward one
/// `Content-Length: 5`: an upstream that reads a repeated or comma-listed
/// length differently (or rejects it) would otherwise disagree with the
/// gateway about where the body ends.
#[tokio::test(flavor = "multi_thread")]
async fn duplicate_content_lengths_are_forwarded_as_one() {
    let s = setup().await;
    for (i, lengths) in [
        "Content-Length: 5\r\nContent-Length: 5\r\n",
        "Content-Length: 5, 5\r\n",
    ]
    .into_iter()
    .enumerate()
    {
        let payload = format!(
            "POST /attack-{i} HTTP/1.1\r\nHost: main.test\r\n{lengths}Connection: close\r\n\r\nhello"
        );
        let out = exchange(&s.gw, payload.as_bytes()).await;
        assert_eq!(
            out.statuses,
            [200],
            "{lengths:?}: {out:?}; upstream: {}",
            s.main.summary()
        );
        assert_nothing_smuggled(&s, &out);
    }
    for r in s.main.requests() {
        assert_eq!(r.header("content-length"), Some("5"), "{r:?}");
    }
}

/// Content-Length values that are not plain digits are 400.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_content_length_is_rejected() {
    let s = setup().await;
    for value in ["+5", "-1", "0x5", "5 5", "5a", "99999999999999999999999"] {
        let payload = format!(
            "POST /attack HTTP/1.1\r\nHost: main.test\r\nContent-Length: {value}\r\n\r\nhello"
        );
        let out = exchange(&s.gw, payload.as_bytes()).await;
        assert_eq!(out.statuses, [400], "Content-Length {value:?}: {out:?}");
    }
    assert_eq!(s.main.requests().len(), 0, "{}", s.main.summary());
}

/// Obfuscated Transfer-Encoding, each sent together with a Content-Length
/// that covers the whole body (the classic TE.CL desync). Either reading
/// forwards at most the one request; the expected status says which
/// reading the gateway took.
#[tokio::test(flavor = "multi_thread")]
async fn obfuscated_transfer_encoding_is_rejected_or_read_as_chunked() {
    let s = setup().await;
    // (header line, expected status): 400 = rejected, 200 = read as chunked.
    let cases: [(&str, u16); 8] = [
        ("Transfer-Encoding: xchunked", 400),
        ("Transfer-Encoding:  chunked", 200),
        ("Transfer-Encoding: chunked, identity", 400),
        ("Transfer-Encoding:\tchunked", 200),
        ("Transfer-Encoding : chunked", 400),
        ("Transfer-Encoding: identity", 400),
        ("Transfer-Encoding: CHUNKED", 200),
        ("Transfer-Encoding: gzip, chunked", 200),
    ];
    let body = format!("0\r\n\r\n{SMUGGLED}");
    let mut seen = Vec::new();
    for (i, (te, want)) in cases.into_iter().enumerate() {
        let payload = format!(
            "POST /attack-{i} HTTP/1.1\r\nHost: main.test\r\nContent-Length: {}\r\n{te}\r\n\r\n{body}",
            body.len()
        );
        let before = s.main.requests().len();
        let out = exchange(&s.gw, payload.as_bytes()).await;
        seen.push((te, out.statuses.clone()));
        assert_eq!(out.statuses.first(), Some(&want), "{te:?}: {out:?}");
        assert!(out.closed_early, "{te:?}: connection kept open: {out:?}");
        assert_nothing_smuggled(&s, &out);
        let forwarded = s.main.requests().len() - before;
        assert_eq!(
            forwarded,
            usize::from(want == 200),
            "{te:?}: {}",
            s.main.summary()
        );
    }
    eprintln!("obfuscated transfer-encoding statuses: {seen:?}");
}

/// A chunk size that overflows 64 bits is a framing error: 400, and
/// nothing complete reaches the upstream.
#[tokio::test(flavor = "multi_thread")]
async fn chunk_size_overflow_is_rejected() {
    let s = setup().await;
    for size in ["ffffffffffffffffffff", "10000000000000000", "-1", "zz"] {
        let payload = format!(
            "POST /attack HTTP/1.1\r\nHost: main.test\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nabc\r\n0\r\n\r\n{SMUGGLED}"
        );
        let out = exchange(&s.gw, payload.as_bytes()).await;
        assert_eq!(out.statuses, [400], "chunk size {size:?}: {out:?}");
        assert_nothing_smuggled(&s, &out);
    }
    assert_eq!(
        s.main.requests().len(),
        0,
        "no complete request may be forwarded: {}",
        s.main.summary()
    );
}

/// Chunk extensions: many small ones are legal and stripped on the way
/// upstream; a chunk head longer than Pingora's 8 KiB limit is a 400.
#[tokio::test(flavor = "multi_thread")]
async fn chunk_extensions_are_bounded() {
    let s = setup().await;
    let mut many = String::new();
    for i in 0..200 {
        many.push_str(&format!("1;ext{i}=\"v\";x\r\nz\r\n"));
    }
    let payload = format!(
        "POST /attack HTTP/1.1\r\nHost: main.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{many}0\r\n\r\n"
    );
    let out = exchange(&s.gw, payload.as_bytes()).await;
    assert_eq!(out.statuses, [200], "{out:?}");
    let reqs = s.main.requests();
    assert_eq!(reqs.len(), 1, "{}", s.main.summary());
    assert_eq!(reqs[0].body, vec![b'z'; 200]);

    let long = format!("1;{}\r\nz\r\n0\r\n\r\n", "e".repeat(64 * 1024));
    let payload = format!(
        "POST /attack HTTP/1.1\r\nHost: main.test\r\nTransfer-Encoding: chunked\r\n\r\n{long}{SMUGGLED}"
    );
    let out = exchange(&s.gw, payload.as_bytes()).await;
    assert_eq!(out.statuses, [400], "64 KiB chunk extension: {out:?}");
    assert_nothing_smuggled(&s, &out);
    assert_eq!(s.main.requests().len(), 1, "{}", s.main.summary());
}

// ---------------------------------------------------------------- header syntax

/// Malformed field names and values: 400 before any hook, nothing forwarded.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_header_fields_are_rejected() {
    let s = setup().await;
    let cases: [(&str, &[u8]); 5] = [
        ("space in name", b"Bad Name: x\r\n"),
        ("NUL in value", b"X-A: a\x00b\r\n"),
        ("CR in value", b"X-A: a\rb\r\n"),
        ("obs-fold", b"X-A: a\r\n folded\r\n"),
        ("empty name", b": x\r\n"),
    ];
    for (what, field) in cases {
        let mut payload = b"GET /attack HTTP/1.1\r\nHost: main.test\r\n".to_vec();
        payload.extend_from_slice(field);
        payload.extend_from_slice(b"\r\n");
        let out = exchange(&s.gw, &payload).await;
        assert_eq!(out.statuses, [400], "{what}: {out:?}");
    }
    assert_eq!(s.main.requests().len(), 0, "{}", s.main.summary());
}

/// Bare LF line endings are accepted (RFC 9112 §2.2 allows it) and the
/// upstream gets a normal CRLF request, exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn bare_lf_line_endings_are_normalised() {
    let s = setup().await;
    let out = exchange(&s.gw, b"GET /attack HTTP/1.1\nHost: main.test\nX-A: 1\n\n").await;
    assert_eq!(out.statuses, [200, 200], "{out:?}");
    assert_nothing_smuggled(&s, &out);
    let reqs = s.main.requests();
    assert_eq!(s.main.targets(), ["/attack", "/probe"]);
    assert_eq!(reqs[0].header("x-a"), Some("1"));
}

/// HTTP/1.0 needs no Host; such a request routes as an empty host (the
/// host-less route).
#[tokio::test(flavor = "multi_thread")]
async fn http10_without_host_is_served() {
    let s = setup().await;
    let out = exchange(&s.gw, b"GET /attack HTTP/1.0\r\n\r\n").await;
    assert_eq!(out.statuses.first(), Some(&200), "{out:?}");
    assert_eq!(
        s.main.targets().first().map(String::as_str),
        Some("/attack")
    );
    assert_eq!(s.other.requests().len(), 0);
}

/// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status
/// code to any HTTP/1.1 request message that lacks a Host header field".
#[tokio::test(flavor = "multi_thread")]
async fn http11_without_host_is_rejected() {
    let s = setup().await;
    let out = exchange(&s.gw, b"GET /attack HTTP/1.1\r\n\r\n").await;
    assert_eq!(out.statuses.first(), Some(&400), "{out:?}");
    assert!(
        !s.main.targets().iter().any(|t| t == "/attack"),
        "{}",
        s.main.summary()
    );
}

/// Two Host fields are ambiguous: 400 (Pingora).
#[tokio::test(flavor = "multi_thread")]
async fn duplicate_host_is_rejected() {
    let s = setup().await;
    let out = exchange(
        &s.gw,
        b"GET /attack HTTP/1.1\r\nHost: main.test\r\nHost: other.test\r\n\r\n",
    )
    .await;
    assert_eq!(out.statuses, [400], "{out:?}");
    assert_eq!(s.main.requests().len() + s.other.requests().len(), 0);
}

/// Absolute-form targets: when the Host header differs from the target's
/// authority Pingora answers 400, so the two can never route differently.
#[tokio::test(flavor = "multi_thread")]
async fn absolute_form_with_a_different_host_is_rejected() {
    let s = setup().await;
    let out = exchange(
        &s.gw,
        b"GET http://other.test/attack HTTP/1.1\r\nHost: main.test\r\n\r\n",
    )
    .await;
    assert_eq!(out.statuses, [400], "{out:?}");
    assert_eq!(s.main.requests().len() + s.other.requests().len(), 0);
}

/// When Host agrees with the absolute-form authority, that host routes.
#[tokio::test(flavor = "multi_thread")]
async fn absolute_form_with_matching_host_routes_by_it() {
    let s = setup().await;
    let out = exchange(
        &s.gw,
        b"GET http://other.test/attack HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(out.statuses, [200], "{out:?}");
    assert_eq!(s.other.requests().len(), 1, "{}", s.other.summary());
    assert_eq!(s.main.requests().len(), 0, "{}", s.main.summary());
}

/// RFC 9112 §3.2: an HTTP/1.1 request without Host is refused even with an
/// absolute-form target (the client MUST send Host; §3.2.2 only says which
/// one wins when both are present).
#[tokio::test(flavor = "multi_thread")]
async fn absolute_form_without_host_is_rejected() {
    let s = setup().await;
    let out = exchange(
        &s.gw,
        b"GET http://other.test/attack HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(out.statuses, [400], "{out:?}");
    assert_eq!(s.main.requests().len() + s.other.requests().len(), 0);
}

/// The upstream is an origin server: the gateway routed on the path, so it
/// must forward the origin-form target (`/attack`), not the client's
/// absolute form, or an upstream routing on the authority could disagree.
#[tokio::test(flavor = "multi_thread")]
async fn absolute_form_is_forwarded_in_origin_form() {
    let s = setup().await;
    let out = exchange(
        &s.gw,
        b"GET http://other.test/attack HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(out.statuses, [200], "{out:?}");
    assert_eq!(s.other.targets(), ["/attack"], "{}", s.other.summary());
}

/// A method that is not a token is 400.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_method_token_is_rejected() {
    let s = setup().await;
    for line in [
        "GE(T /attack HTTP/1.1",
        "G\x00T /attack HTTP/1.1",
        "GET\t/attack HTTP/1.1",
    ] {
        let payload = format!("{line}\r\nHost: main.test\r\n\r\n");
        let out = exchange(&s.gw, payload.as_bytes()).await;
        assert_eq!(out.statuses.first(), Some(&400), "{line:?}: {out:?}");
    }
    assert_eq!(s.main.requests().len(), 0, "{}", s.main.summary());
}

/// Pingora parses at most 256 header fields: 256 pass, 257 are 400, before
/// any hook (nothing forwarded, no request counted).
#[tokio::test(flavor = "multi_thread")]
async fn header_count_limit_is_256() {
    let s = setup().await;
    let request = |fields: usize| {
        let mut p =
            String::from("GET /attack HTTP/1.1\r\nHost: main.test\r\nConnection: close\r\n");
        for i in 0..fields - 2 {
            p.push_str(&format!("X-H{i}: v\r\n"));
        }
        p.push_str("\r\n");
        p
    };
    let out = exchange(&s.gw, request(256).as_bytes()).await;
    assert_eq!(out.statuses, [200], "256 fields: {out:?}");
    let out = exchange(&s.gw, request(257).as_bytes()).await;
    assert_eq!(out.statuses, [400], "257 fields: {out:?}");
    assert_eq!(s.main.targets(), ["/attack"], "{}", s.main.summary());
    // A request rejected by the parser is not routed: one routed request.
    // Counted in the logging phase, after the client has the response.
    s.gw.wait_metric(
        "gateway_requests_total",
        &[("route", "main")],
        1.0,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
}

/// A header section over 1 MiB is 400 (Pingora) and the gateway stays up.
#[tokio::test(flavor = "multi_thread")]
async fn header_section_over_one_mebibyte_is_rejected() {
    let s = setup().await;
    let mut conn = RawConn::connect(s.gw.proxy_addr()).await;
    let mut payload = b"GET /attack HTTP/1.1\r\nHost: main.test\r\n".to_vec();
    // 2 MiB in 64 KiB fields (well under the field-count limit).
    for i in 0..32 {
        payload.extend_from_slice(format!("X-Big{i}: ").as_bytes());
        payload.extend(std::iter::repeat_n(b'a', 64 * 1024));
        payload.extend_from_slice(b"\r\n");
    }
    payload.extend_from_slice(b"\r\n");
    conn.send(&payload).await;
    let resp = conn.response(EXCHANGE_DEADLINE).await;
    assert_eq!(resp.map(|r| r.status), Some(400));
    assert!(conn.closed_within(EXCHANGE_DEADLINE).await);
    assert_eq!(s.main.requests().len(), 0, "{}", s.main.summary());
    let out = exchange(
        &s.gw,
        b"GET /attack HTTP/1.1\r\nHost: main.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(out.statuses, [200], "the gateway still serves: {out:?}");
}

// ---------------------------------------------------------------- slow clients

/// Sequential normal requests on fresh connections; returns the statuses.
async fn normal_requests(gw: &GatewayProcess, n: usize) -> Vec<u16> {
    let client = common::client();
    let mut statuses = Vec::with_capacity(n);
    for i in 0..n {
        let r = client
            .get(gw.url(&format!("/normal{i}")))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        statuses.push(r);
    }
    statuses
}

/// Connections that each send `prefix`, then trickle `tail` one byte per
/// 200 ms until `stop` is set or the tail runs out. Returns whether every
/// connection was still open (no EOF from the gateway) when it stopped.
fn trickle(
    gw: &GatewayProcess,
    connections: usize,
    prefix: &'static [u8],
    tail: &'static [u8],
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<bool>> {
    let addr = gw.proxy_addr();
    tokio::spawn(async move {
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = RawConn::connect(addr).await;
                if !conn.send(prefix).await {
                    return false;
                }
                for b in tail {
                    if stop.load(SeqCst) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if !conn.send(std::slice::from_ref(b)).await {
                        return false;
                    }
                }
                // Still open if nothing arrived and no EOF within a moment.
                !conn.closed_within(Duration::from_millis(50)).await && conn.pending().is_empty()
            }));
        }
        let mut open = Vec::new();
        for t in tasks {
            open.push(t.await.unwrap_or(false));
        }
        open
    })
}

/// 20 slowloris connections trickling headers (1 byte per 200 ms, at most
/// ~8 s) do not keep a normal client from getting 30 × 200 meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn slowloris_headers_do_not_starve_other_clients() {
    let s = setup().await;
    let stop = Arc::new(AtomicBool::new(false));
    let tail: &'static [u8] = b"X-Slow-Header-Trickled-One-Byte-At-A-Time: 1\r\n";
    let slow = trickle(
        &s.gw,
        20,
        b"GET /slow HTTP/1.1\r\nHost: main.test\r\n",
        tail,
        stop.clone(),
    );
    // Let the slow connections get accepted and start trickling.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let statuses = normal_requests(&s.gw, 30).await;
    stop.store(true, SeqCst);
    let open = slow.await.expect("trickle task");
    assert_eq!(statuses, vec![200; 30], "normal client during slowloris");
    assert_eq!(
        open.iter().filter(|o| **o).count(),
        20,
        "the slow connections were still open while normal traffic was served"
    );
    assert!(s.main.targets().iter().all(|t| t != "/slow"));
}

/// A body trickled one byte per 200 ms holds only its own request.
#[tokio::test(flavor = "multi_thread")]
async fn slow_body_does_not_starve_other_clients() {
    let s = setup().await;
    let stop = Arc::new(AtomicBool::new(false));
    let slow = trickle(
        &s.gw,
        10,
        b"POST /slow HTTP/1.1\r\nHost: main.test\r\nContent-Length: 100\r\n\r\n",
        b"0123456789012345678901234567890123456789",
        stop.clone(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let statuses = normal_requests(&s.gw, 30).await;
    stop.store(true, SeqCst);
    let open = slow.await.expect("trickle task");
    assert_eq!(statuses, vec![200; 30], "normal client during slow bodies");
    assert_eq!(
        open.iter().filter(|o| **o).count(),
        10,
        "slow bodies still open"
    );
}

/// With `gateway.downstream.read_header_timeout: 1s`, a connection that
/// trickles its header is answered 408 or closed within the timeout plus a
/// margin.
#[tokio::test(flavor = "multi_thread")]
async fn trickled_headers_are_cut_off_by_read_header_timeout() {
    let recorder = Recorder::start().await;
    let body = format!("downstream: {{ read_header_timeout: 1s }}\n{ROUTES}");
    let template = Template::new(&config(&body))
        .upstream("main", recorder.addr())
        .upstream("other", recorder.addr());
    let gw = start(&template).await;
    let mut conn = RawConn::connect(gw.proxy_addr()).await;
    conn.send(b"GET /slow HTTP/1.1\r\nHost: main.test\r\n")
        .await;
    let deadline = Instant::now() + Duration::from_secs(1) + Duration::from_secs(5);
    let mut cut_off = false;
    for b in b"X-Slow: trickled-far-longer-than-the-timeout-allows\r\n" {
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if !conn.send(std::slice::from_ref(b)).await {
            cut_off = true;
            break;
        }
    }
    if !cut_off {
        cut_off = conn
            .closed_within(deadline.saturating_duration_since(Instant::now()))
            .await;
    }
    let pending = conn.pending();
    assert!(
        cut_off || pending.starts_with("HTTP/1.1 408"),
        "the trickling connection was neither answered 408 nor closed by the deadline; got {pending:?}"
    );
    assert_eq!(recorder.requests().len(), 0);
}

// ---------------------------------------------------------------- pipelining

/// Sends `payload` (several pipelined requests, the last with
/// `Connection: close`) and returns the `x-target` of each response.
async fn pipelined(gw: &GatewayProcess, payload: &[u8]) -> Vec<(u16, String)> {
    let mut conn = RawConn::connect(gw.proxy_addr()).await;
    conn.send(payload).await;
    let (responses, _) = conn.responses_until_close(EXCHANGE_DEADLINE).await;
    responses
        .iter()
        .map(|r| (r.status, r.header("x-target").unwrap_or("").to_string()))
        .collect()
}

fn ok(targets: &[&str]) -> Vec<(u16, String)> {
    targets.iter().map(|t| (200, t.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_pipelined_gets_get_three_responses_in_order() {
    let s = setup().await;
    let got = pipelined(
        &s.gw,
        b"GET /p1 HTTP/1.1\r\nHost: main.test\r\n\r\n\
          GET /p2 HTTP/1.1\r\nHost: main.test\r\n\r\n\
          GET /p3 HTTP/1.1\r\nHost: main.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(got, ok(&["/p1", "/p2", "/p3"]));
    assert_eq!(s.main.targets(), ["/p1", "/p2", "/p3"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelined_requests_with_bodies_keep_their_boundaries() {
    let s = setup().await;
    let got = pipelined(
        &s.gw,
        b"GET /p1 HTTP/1.1\r\nHost: main.test\r\n\r\n\
          POST /p2 HTTP/1.1\r\nHost: main.test\r\nContent-Length: 5\r\n\r\nhello\
          POST /p3 HTTP/1.1\r\nHost: main.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
          GET /p4 HTTP/1.1\r\nHost: main.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(got, ok(&["/p1", "/p2", "/p3", "/p4"]));
    let reqs = s.main.requests();
    let bodies: Vec<&[u8]> = reqs.iter().map(|r| r.body.as_slice()).collect();
    assert_eq!(bodies, [&b""[..], b"hello", b"abc", b""]);
}
