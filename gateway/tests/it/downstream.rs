//! `gateway.downstream`: pipelined requests answered in order, 414/431 size
//! limits, gateway-generated errors that keep the connection, the request
//! header deadline (slowloris), the keep-alive idle timeout and the request
//! limit per connection. Raw TCP on loopback, so the bytes on the wire are
//! what is checked.

use crate::common::{self, config, start};
use harness::upstream::Echo;
use harness::{MockUpstream, Template};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn template(echo: std::net::SocketAddr, downstream: &str) -> Template {
    let body = format!(
        r#"
clusters:
  app: {{ endpoints: [ {{ address: "${{upstream.echo}}", name: echo }} ] }}
routes:
  - {{ name: app, match: {{ path_prefix: /app }}, cluster: app }}
{downstream}
"#
    );
    Template::new(&config(&body)).upstream("echo", echo)
}

/// Reads until `responses` complete responses arrived, the peer closed, or
/// 5 s passed; returns the bytes and whether the peer closed.
async fn read_responses(stream: &mut TcpStream, responses: usize) -> (String, bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        if complete_responses(&buf) >= responses {
            return (String::from_utf8_lossy(&buf).into_owned(), false);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&buf).into_owned(), true),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return (String::from_utf8_lossy(&buf).into_owned(), false),
        }
    }
}

/// Counts responses whose Content-Length body has fully arrived.
fn complete_responses(buf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(buf);
    let mut rest: &str = &text;
    let mut count = 0;
    while let Some(head_end) = rest.find("\r\n\r\n") {
        let head = &rest[..head_end];
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())
                    .flatten()
            })
            .unwrap_or(0);
        let body_start = head_end + 4;
        if rest.len() < body_start + len {
            break;
        }
        count += 1;
        rest = &rest[body_start + len..];
    }
    count
}

fn statuses(text: &str) -> Vec<u16> {
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelined_requests_are_answered_in_order() {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let gw = start(&template(echo.addr(), "")).await;
    let mut conn = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    conn.write_all(
        b"GET /app/one HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /app/two HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
          POST /app/three HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
          GET /app/four HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await
    .unwrap();
    let (text, _) = read_responses(&mut conn, 4).await;
    assert_eq!(statuses(&text), vec![200, 200, 200, 200], "{text}");
    let paths: Vec<&str> = text
        .match_indices("\"path\":\"")
        .map(|(i, m)| {
            let rest = &text[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(
        paths,
        vec!["/app/one", "/app/two", "/app/three", "/app/four"],
        "{text}"
    );
    assert!(text.contains("\"body_len\":5"), "{text}");
    assert!(text.contains("\"body_len\":3"), "{text}");
    assert_eq!(
        echo.hits(),
        4,
        "each pipelined request reached the upstream once"
    );
}

/// The client read buffer only sizes socket reads: with none at all, or one
/// far smaller than a header, big headers, bodies and pipelined requests
/// still arrive whole.
#[tokio::test(flavor = "multi_thread")]
async fn tiny_or_no_read_buffer_still_carries_big_headers_bodies_and_pipelines() {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    for read_buffer in ["0", "64"] {
        let gw = start(&template(
            echo.addr(),
            &format!("downstream: {{ read_buffer: {read_buffer} }}"),
        ))
        .await;
        let mut conn = TcpStream::connect(gw.proxy_addr()).await.unwrap();
        let body = "x".repeat(256 * 1024);
        let requests = format!(
            "GET /app/big-header HTTP/1.1\r\nHost: a\r\nX-Pad: {}\r\n\r\n\
             POST /app/big-body HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}\
             GET /app/last HTTP/1.1\r\nHost: a\r\n\r\n",
            "p".repeat(32 * 1024),
            body.len(),
        );
        conn.write_all(requests.as_bytes()).await.unwrap();
        let (text, _) = read_responses(&mut conn, 3).await;
        assert_eq!(
            statuses(&text),
            vec![200, 200, 200],
            "read_buffer {read_buffer}: {text}"
        );
        assert!(
            text.contains(&format!("\"body_len\":{}", body.len())),
            "read_buffer {read_buffer}: the whole body arrived: {text}"
        );
        assert!(text.contains("/app/last"), "read_buffer {read_buffer}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_targets_and_headers_get_414_and_431_on_a_kept_connection() {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let gw = start(&template(
        echo.addr(),
        "downstream: { max_uri_bytes: 1KiB, max_header_bytes: 2KiB }",
    ))
    .await;
    let mut conn = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    let long_uri = format!("GET /app/{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(1100));
    conn.write_all(long_uri.as_bytes()).await.unwrap();
    let (text, closed) = read_responses(&mut conn, 1).await;
    assert_eq!(statuses(&text), vec![414], "{text}");
    assert!(
        !closed,
        "a 414 for a request without body keeps the connection"
    );

    let big_header = format!(
        "GET /app/x HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "b".repeat(2100)
    );
    conn.write_all(big_header.as_bytes()).await.unwrap();
    let (text, closed) = read_responses(&mut conn, 1).await;
    assert_eq!(statuses(&text), vec![431], "{text}");
    assert!(!closed);

    conn.write_all(b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let (text, _) = read_responses(&mut conn, 1).await;
    assert_eq!(statuses(&text), vec![404], "{text}");
    conn.write_all(b"GET /app/ok HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let (text, _) = read_responses(&mut conn, 1).await;
    assert_eq!(
        statuses(&text),
        vec![200],
        "the same connection still serves after 414, 431 and 404: {text}"
    );
    assert_eq!(echo.hits(), 1, "refused requests never reach the upstream");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_trickling_its_header_is_cut_off_while_others_are_served() {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let gw = start(&template(
        echo.addr(),
        "downstream: { read_header_timeout: 1s }",
    ))
    .await;
    let mut slow = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    let started = Instant::now();
    let header = b"GET /app/slow HTTP/1.1\r\nHost: a\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut cut_off = false;
    let client = common::client();
    let mut served_meanwhile = 0;
    // One byte every 100 ms: the whole header would take ~8 s; the deadline
    // is 1 s. Bounded by the header's length.
    for byte in header.iter() {
        if slow.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(100), slow.read(&mut probe)).await
        {
            cut_off = true;
            break;
        }
        if served_meanwhile < 5 {
            let r = client.get(gw.url("/app/normal")).send().await.unwrap();
            assert_eq!(r.status(), 200);
            served_meanwhile += 1;
        }
    }
    assert!(
        cut_off,
        "the trickling connection was never closed (after {:?})",
        started.elapsed()
    );
    assert_eq!(served_meanwhile, 5, "other clients were served meanwhile");
    assert_eq!(
        echo.hits(),
        5,
        "the incomplete request never reached the upstream"
    );
}

/// After an idle wait between requests, a burst of pipelined requests (and
/// one with a body) is still answered in order, and so is a later single
/// request: the first byte the idle connection waited for starts the next
/// request rather than being lost, and bytes read ahead are kept.
#[tokio::test(flavor = "multi_thread")]
async fn pipelining_after_an_idle_wait_keeps_every_request() {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let gw = start(&template(echo.addr(), "")).await;
    let mut conn = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    let rounds: [&[u8]; 4] = [
        b"GET /app/1 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /app/2 HTTP/1.1\r\nHost: a\r\n\r\nGET /app/3 HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /app/4 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
          GET /app/5 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /app/6 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"G",
    ];
    let mut paths = Vec::new();
    for (round, bytes) in rounds[..3].iter().enumerate() {
        conn.write_all(bytes).await.unwrap();
        let expected = [1, 4, 1][round];
        let (text, closed) = read_responses(&mut conn, expected).await;
        assert_eq!(
            statuses(&text),
            vec![200; expected],
            "round {round}: {text}"
        );
        assert!(!closed, "round {round}: closed");
        paths.extend(requests_seen(&text));
    }
    assert_eq!(
        paths,
        [
            "GET /app/1",
            "GET /app/2",
            "GET /app/3",
            "POST /app/4",
            "GET /app/5",
            "GET /app/6"
        ]
    );
    // A request arriving in two parts after an idle wait.
    conn.write_all(rounds[3]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    conn.write_all(b"ET /app/7 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let (text, _) = read_responses(&mut conn, 1).await;
    assert_eq!(requests_seen(&text), ["GET /app/7"], "{text}");
    assert_eq!(echo.hits(), 7);
}

/// `METHOD path` of each request the echo upstream described in `text`.
fn requests_seen(text: &str) -> Vec<String> {
    let field = |from: &str, name: &str| -> Option<String> {
        let at = from.find(&format!("\"{name}\":\""))? + name.len() + 4;
        Some(from[at..at + from[at..].find('"')?].to_string())
    };
    text.split("HTTP/1.1 ")
        .filter_map(|response| {
            Some(format!(
                "{} {}",
                field(response, "method")?,
                field(response, "path")?
            ))
        })
        .collect()
}

/// The header deadline holds for a kept-alive connection's next request
/// too: its clock starts at the request's first byte.
#[tokio::test(flavor = "multi_thread")]
async fn a_trickled_second_request_is_cut_off_by_the_header_deadline() {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let gw = start(&template(
        echo.addr(),
        "downstream: { read_header_timeout: 1s }",
    ))
    .await;
    let mut conn = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    conn.write_all(b"GET /app/1 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let (text, _) = read_responses(&mut conn, 1).await;
    assert_eq!(statuses(&text), vec![200]);
    // One byte every 100 ms, for at most 10 s: the gateway must cut it off.
    let started = Instant::now();
    let mut cut_off = false;
    for byte in b"GET /app/2 HTTP/1.1\r\nX-Slow: ".iter().cycle().take(100) {
        if conn.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(100), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut_off = true;
                break;
            }
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    assert!(
        cut_off,
        "a trickled header was read for {:?}",
        started.elapsed()
    );
    assert_eq!(echo.hits(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_keepalive_connections_close_after_the_timeout() {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let gw = start(&template(
        echo.addr(),
        "downstream: { keepalive_timeout: 1s }",
    ))
    .await;
    let mut conn = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    conn.write_all(b"GET /app/x HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let (text, closed) = read_responses(&mut conn, 1).await;
    assert_eq!(statuses(&text), vec![200]);
    assert!(!closed);
    // Idle: the gateway closes it after ~1 s; wait for that with a deadline
    // well beyond it.
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "an idle keep-alive connection stayed open: {read:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_close_after_max_requests() {
    let echo = MockUpstream::start("echo", Echo).await.unwrap();
    let gw = start(&template(
        echo.addr(),
        "downstream: { max_requests_per_connection: 3 }",
    ))
    .await;
    let mut conn = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    let mut served = 0;
    for _ in 0..5 {
        if conn
            .write_all(b"GET /app/x HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .is_err()
        {
            break;
        }
        let (text, closed) = read_responses(&mut conn, 1).await;
        served += statuses(&text).len();
        if closed {
            break;
        }
    }
    assert_eq!(served, 3, "exactly max_requests_per_connection answers");
}
