//! Errors are classified by side: a client that goes away while the
//! upstream is still working is recorded as 499 (as nginx does), is not
//! retried, and does not count against the endpoint.

use crate::common::{config, start};
use harness::upstream::{Fixed, Slow};
use harness::{wait, MockUpstream, Template};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const DEADLINE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_disconnects_before_the_response_is_a_499_and_not_retried() {
    let slow = || Slow {
        delay: Duration::from_secs(5),
        then: Arc::new(Fixed::ok("late")),
    };
    let a = MockUpstream::start("a", slow()).await.unwrap();
    let b = MockUpstream::start("b", slow()).await.unwrap();
    let body = r#"
clusters:
  pool:
    endpoints: [ { address: "${upstream.a}", name: a }, { address: "${upstream.b}", name: b } ]
    retries: { attempts: 2, on: [connect_failure, timeout, reset] }
routes:
  - { name: all, match: { path_prefix: / }, cluster: pool }
"#;
    let template = Template::new(&config(body))
        .upstream("a", a.addr())
        .upstream("b", b.addr());
    let gw = start(&template).await;

    let mut client = TcpStream::connect(gw.proxy_addr()).await.unwrap();
    client
        .write_all(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    wait::until("the request reached an upstream", DEADLINE, || async {
        (a.hits() + b.hits() == 1).then_some(())
    })
    .await
    .unwrap();
    drop(client);

    gw.wait_metric(
        "gateway_requests_total",
        &[("route", "all"), ("status", "499")],
        1.0,
        DEADLINE,
    )
    .await
    .unwrap();
    assert_eq!(
        a.hits() + b.hits(),
        1,
        "the gone client's request was retried"
    );
    assert_eq!(
        gw.metric("gateway_retries_total", &[("cluster", "pool")])
            .await,
        0.0
    );
    for endpoint in ["a", "b"] {
        assert_eq!(
            gw.metric(
                "gateway_upstream_attempts_total",
                &[("endpoint", endpoint), ("outcome", "error")]
            )
            .await,
            0.0,
            "the client's abort was counted against endpoint {endpoint}"
        );
    }
    assert_eq!(
        gw.metric(
            "gateway_requests_total",
            &[("route", "all"), ("status", "0")]
        )
        .await,
        0.0
    );
}
