//! gRPC through an h2c listener and an h2c cluster, seen by a real gRPC
//! client (tonic): unary and server-streaming calls keep their status and
//! message (trailers, or headers of a trailers-only answer) end to end, the
//! gateway's own errors are gRPC statuses (14 upstream down, 4 timeout, 12
//! no route), and `gateway_grpc_responses_total` counts each by status.

use crate::common::start;
use harness::grpc::{CallOutcome, EchoClient, EchoRequest};
use harness::upstream::{Fixed, GrpcEcho, Slow};
use harness::{GatewayProcess, MockUpstream, Template};
use std::sync::Arc;
use std::time::Duration;

const CONFIG: &str = r#"
version: 1
threads: 1
grace_period_seconds: 1
graceful_shutdown_timeout_seconds: 1
gateway:
  listeners:
    - { address: "127.0.0.1:${port.proxy}", h2c: true }
  admin: { address: "127.0.0.1:${port.admin}" }
  clusters:
    grpc:
      endpoints: [ { address: "${upstream.grpc}", name: grpc } ]
      protocol: h2c
      timeouts: { connect: 1s, read: 400ms }
  routes:
    - { name: echo, match: { path_prefix: /echo.Echo/ }, cluster: grpc }
"#;

const CALL_TIMEOUT: Duration = Duration::from_secs(5);
const METRIC_WAIT: Duration = Duration::from_secs(5);

async fn gateway_in_front_of(upstream: &MockUpstream) -> (GatewayProcess, EchoClient) {
    let gw = start(&Template::new(CONFIG).upstream("grpc", upstream.addr())).await;
    let client = EchoClient::new(gw.proxy_addr(), CALL_TIMEOUT).expect("client");
    (gw, client)
}

fn request(message: &str, count: u32, status: i32) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        count,
        status,
        pause_ms: 0,
    }
}

async fn grpc_responses(gw: &GatewayProcess, route: &str, status: &str) -> f64 {
    gw.metric(
        "gateway_grpc_responses_total",
        &[("route", route), ("grpc_status", status)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn unary_and_streaming_calls_keep_status_and_trailers() {
    let upstream = MockUpstream::start("grpc", GrpcEcho).await.unwrap();
    let (gw, client) = gateway_in_front_of(&upstream).await;

    for i in 0..10 {
        let out = client.unary(request(&format!("hello {i}"), 0, 0)).await;
        assert_eq!(
            (
                out.code,
                out.replies,
                out.wrong_replies,
                out.status_received
            ),
            (0, 1, 0, true),
            "unary call {i}: {out:?}"
        );
    }
    let out = client.stream(request("tick", 25, 0)).await;
    assert_eq!(
        (
            out.code,
            out.replies,
            out.wrong_replies,
            out.status_received
        ),
        (0, 25, 0, true),
        "a stream ends with grpc-status 0 in its trailers: {out:?}"
    );
    // A status after data: only the trailers carry it.
    let out = client.stream(request("boom", 3, 9)).await;
    assert_eq!(
        out,
        CallOutcome {
            code: 9,
            message: "boom".into(),
            replies: 3,
            wrong_replies: 0,
            status_received: true,
        },
        "status and message in the trailers after three replies"
    );
    // An upstream error without data: the upstream's trailers-only answer.
    let out = client.unary(request("not here", 0, 5)).await;
    assert_eq!((out.code, out.message.as_str()), (5, "not here"), "{out:?}");
    assert!(out.status_received, "{out:?}");

    gw.wait_metric(
        "gateway_grpc_responses_total",
        &[("route", "echo"), ("grpc_status", "0")],
        11.0,
        METRIC_WAIT,
    )
    .await
    .unwrap();
    assert_eq!(grpc_responses(&gw, "echo", "9").await, 1.0);
    assert_eq!(grpc_responses(&gw, "echo", "5").await, 1.0);
    assert_eq!(upstream.hits(), 13);
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_down_is_unavailable() {
    let upstream = MockUpstream::start("grpc", GrpcEcho).await.unwrap();
    let (gw, client) = gateway_in_front_of(&upstream).await;
    upstream.down().await;

    for call in 0..4 {
        let out = if call % 2 == 0 {
            client.unary(request("x", 0, 0)).await
        } else {
            client.stream(request("x", 3, 0)).await
        };
        assert_eq!(out.code, 14, "call {call}: {out:?}");
        assert!(
            out.status_received,
            "the gateway sent grpc-status itself: {out:?}"
        );
        assert_eq!(out.replies, 0, "{out:?}");
    }
    gw.wait_metric(
        "gateway_grpc_responses_total",
        &[("route", "echo"), ("grpc_status", "14")],
        4.0,
        METRIC_WAIT,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_timeout_is_deadline_exceeded() {
    // An h2c upstream that answers after the cluster's read timeout.
    let slow = Slow {
        delay: Duration::from_secs(3),
        then: Arc::new(Fixed::ok("late")),
    };
    let upstream = MockUpstream::start("grpc", slow).await.unwrap();
    let (gw, client) = gateway_in_front_of(&upstream).await;

    let out = client.unary(request("x", 0, 0)).await;
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.status_received, "{out:?}");
    assert_eq!(out.message, "upstream timed out");
    gw.wait_metric(
        "gateway_grpc_responses_total",
        &[("route", "echo"), ("grpc_status", "4")],
        1.0,
        METRIC_WAIT,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_stalling_after_replies_ends_with_deadline_exceeded_trailers() {
    let upstream = MockUpstream::start("grpc", GrpcEcho).await.unwrap();
    let (gw, client) = gateway_in_front_of(&upstream).await;

    // Two replies, then silence longer than the cluster's read timeout.
    let stalled = EchoRequest {
        pause_ms: 3_000,
        ..request("slow", 2, 0)
    };
    let out = client.stream(stalled).await;
    assert_eq!(
        out,
        CallOutcome {
            code: 4,
            message: "upstream timed out".into(),
            replies: 2,
            wrong_replies: 0,
            status_received: true,
        },
        "the replies already sent, then the timeout as a status in trailers"
    );
    gw.wait_metric(
        "gateway_grpc_responses_total",
        &[("route", "echo"), ("grpc_status", "4")],
        1.0,
        METRIC_WAIT,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn unrouted_call_is_unimplemented() {
    let upstream = MockUpstream::start("grpc", GrpcEcho).await.unwrap();
    let text = CONFIG.replace("path_prefix: /echo.Echo/", "path_prefix: /other.Service/");
    let gw = start(&Template::new(&text).upstream("grpc", upstream.addr())).await;
    let client = EchoClient::new(gw.proxy_addr(), CALL_TIMEOUT).expect("client");

    let out = client.unary(request("x", 0, 0)).await;
    assert_eq!(out.code, 12, "{out:?}");
    assert!(out.status_received, "{out:?}");
    assert_eq!(upstream.hits(), 0);
    gw.wait_metric(
        "gateway_grpc_responses_total",
        &[("route", "none"), ("grpc_status", "12")],
        1.0,
        METRIC_WAIT,
    )
    .await
    .unwrap();
}

/// gRPC over an HTTPS listener with `h2: true` (ALPN h2) to the same h2c
/// cluster: replies, trailers and the gateway's own status alike.
#[tokio::test(flavor = "multi_thread")]
async fn grpc_over_an_https_listener_with_h2() {
    let dir = tempfile::tempdir().unwrap();
    let certs = harness::certs::TestCerts::generate(dir.path()).unwrap();
    let upstream = MockUpstream::start("grpc", GrpcEcho).await.unwrap();
    let text = CONFIG.replace(
        r#"- { address: "127.0.0.1:${port.proxy}", h2c: true }"#,
        r#"- { address: "127.0.0.1:${port.proxy}", tls: { cert: "${certs.server_cert}", key: "${certs.server_key}", h2: true } }"#,
    );
    let mut template = Template::new(&text).upstream("grpc", upstream.addr());
    for (key, value) in certs.vars() {
        template = template.var(key, &value);
    }
    let gw = start(&template).await;
    let client =
        EchoClient::new_tls(gw.proxy_addr(), certs.ca(), "localhost", CALL_TIMEOUT).unwrap();

    let out = client.stream(request("over tls", 4, 0)).await;
    assert_eq!(
        (out.code, out.replies, out.status_received),
        (0, 4, true),
        "{out:?}"
    );
    let out = client.stream(request("boom", 2, 9)).await;
    assert_eq!(
        (out.code, out.replies, out.message.as_str()),
        (9, 2, "boom")
    );
    upstream.down().await;
    let out = client.unary(request("x", 0, 0)).await;
    assert_eq!((out.code, out.status_received), (14, true), "{out:?}");
}

/// gRPC clients send `te: trailers`; some servers refuse calls without it,
/// so an HTTP/2 client's `te: trailers` must reach an h2c upstream.
#[tokio::test(flavor = "multi_thread")]
async fn te_trailers_reaches_an_h2c_upstream() {
    let echo = MockUpstream::start("grpc", harness::upstream::Echo)
        .await
        .unwrap();
    let gw = start(&Template::new(CONFIG).upstream("grpc", echo.addr())).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .timeout(CALL_TIMEOUT)
        .build()
        .unwrap();
    let r = client
        .post(gw.url("/echo.Echo/Unary"))
        .header("te", "trailers")
        .header("content-type", "application/grpc")
        .body(vec![0u8; 5])
        .send()
        .await
        .expect("h2c request");
    assert_eq!(r.status(), 200);
    let echoed: serde_json::Value = r.json().await.unwrap();
    assert_eq!(echoed["version"], "HTTP/2.0", "{echoed}");
    assert_eq!(echoed["headers"]["te"], "trailers", "{echoed}");
}
