//! Rolling restarts (docs/FLEET.md): after SIGTERM or `POST /drain`, `/ready`
//! answers 503 at once while the listeners keep serving for
//! `gateway.shutdown.drain_delay`; then they stop, and the process exits as
//! soon as nothing is in flight, long before a 30 s grace period ends.
//! SIGQUIT fails `/ready` too and exits once drained, without a drain delay.
//!
//! Every exit is awaited with a bound well below the grace period: the old
//! behaviour (sleeping the whole grace period) fails these waits.

use crate::common::{self, config, start, with_drain_delay};
use harness::upstream::{Fixed, Slow};
use harness::{GatewayProcess, MockUpstream, Template};
use nix::sys::signal::Signal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The grace period of every gateway here: far longer than any wait.
const GRACE: &str = "grace_period_seconds: 30";

/// One route to `${upstream.app}`, the given drain delay, a 30 s grace
/// period and an access log file that only a flush at exit writes.
fn drain_config(drain_delay: &str) -> String {
    let yaml = config(
        r#"
clusters:
  app:
    endpoints: [ { address: "${upstream.app}", name: app } ]
    timeouts: { read: 20s }
routes:
  - { name: app, match: { path_prefix: / }, cluster: app }
access_log: { format: json, path: access.log, buffer: 1MiB, flush_interval: 1h }
"#,
    )
    .replace("grace_period_seconds: 1", GRACE);
    with_drain_delay(&yaml, drain_delay)
}

async fn start_with(upstream: &MockUpstream, drain_delay: &str) -> GatewayProcess {
    start(&Template::new(&drain_config(drain_delay)).upstream("app", upstream.addr())).await
}

async fn fixed() -> MockUpstream {
    MockUpstream::start("app", Fixed::ok("ok")).await.unwrap()
}

/// The status of `GET /ready`, or `None` when the admin listener is gone.
async fn ready_status(gw: &GatewayProcess) -> Option<u16> {
    let resp = common::client().get(gw.admin_url("/ready")).send().await;
    resp.ok().map(|r| r.status().as_u16())
}

async fn wait_not_ready(gw: &GatewayProcess, within: Duration) {
    harness::wait::until("/ready to answer 503", within, || async {
        (ready_status(gw).await == Some(503)).then_some(())
    })
    .await
    .unwrap();
}

/// Waits until a new TCP connection to `addr` is refused.
async fn wait_refused(addr: SocketAddr, within: Duration) {
    harness::wait::until(
        "the proxy listener to refuse connections",
        within,
        || async {
            tokio::net::TcpStream::connect(addr)
                .await
                .is_err()
                .then_some(())
        },
    )
    .await
    .unwrap();
}

/// `GET /` on a new connection: status and body.
async fn get_on_new_connection(gw: &GatewayProcess) -> (u16, String) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let resp = client
        .get(gw.url("/"))
        .send()
        .await
        .expect("a request during the drain delay is served");
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// Ten requests one after the other, each on a new connection, all served
/// while the drain delay runs.
async fn served_during_the_drain_delay(gw: &GatewayProcess) {
    for i in 0..10 {
        assert_eq!(
            get_on_new_connection(gw).await,
            (200, "ok".to_string()),
            "request {i} on a new connection during the drain delay"
        );
    }
}

/// Waits for exit 0 within `within` (far below the 30 s grace period).
async fn wait_exit_before_grace_end(gw: &mut GatewayProcess, within: Duration) {
    let exit = gw.wait_exit(within).await.unwrap_or_else(|e| {
        panic!(
            "{e}; the process waited for the grace period?\n{}",
            gw.log_tail(20)
        )
    });
    assert!(exit.success(), "exit status {exit}");
}

/// The lines of the JSON access log, written only by the flush at exit.
fn access_lines(gw: &GatewayProcess) -> Vec<String> {
    let file = std::path::Path::new(gw.var("dir").unwrap()).join("access.log");
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_fails_ready_at_once_and_serves_until_the_drain_delay_ends() {
    let app = fixed().await;
    let mut gw = start_with(&app, "3s").await;
    assert_eq!(ready_status(&gw).await, Some(200));

    gw.signal(Signal::SIGTERM).unwrap();
    // Within the 3 s drain delay, with room for the requests that follow.
    wait_not_ready(&gw, Duration::from_secs(2)).await;
    served_during_the_drain_delay(&gw).await;

    // Then the listeners stop, and an idle process exits right after.
    wait_refused(gw.proxy_addr(), Duration::from_secs(8)).await;
    wait_exit_before_grace_end(&mut gw, Duration::from_secs(8)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_process_exits_soon_after_the_drain_delay_with_its_access_log_flushed() {
    let app = fixed().await;
    let mut gw = start_with(&app, "1s").await;
    assert_eq!(get_on_new_connection(&gw).await.0, 200);

    gw.signal(Signal::SIGTERM).unwrap();
    // Drain delay 1 s, then the listeners' clean-up (0.5 s): nothing to wait
    // for. The grace period (30 s) would end much later.
    wait_exit_before_grace_end(&mut gw, Duration::from_secs(15)).await;
    let lines = access_lines(&gw);
    assert_eq!(
        lines.len(),
        1,
        "the access line is flushed at exit: {lines:?}"
    );
    assert!(lines[0].contains(r#""status":200"#), "{}", lines[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_in_flight_at_sigterm_completes_and_the_process_exits_right_after() {
    let then = Arc::new(Fixed::ok("done"));
    // Far longer than the 1 s drain delay plus the wait for the listeners
    // to stop, so the request is still upstream when they have.
    let delay = Duration::from_secs(7);
    let slow = MockUpstream::start("app", Slow { delay, then })
        .await
        .unwrap();
    let mut gw = start_with(&slow, "1s").await;

    let url = gw.url("/");
    let in_flight = tokio::spawn(async move {
        let resp = common::client().get(url).send().await?;
        Ok::<_, reqwest::Error>((resp.status().as_u16(), resp.text().await?))
    });
    harness::wait::until(
        "the request to reach the upstream",
        Duration::from_secs(5),
        || async { (slow.hits() == 1).then_some(()) },
    )
    .await
    .unwrap();
    gw.signal(Signal::SIGTERM).unwrap();

    // The listeners stop after 1 s while the request is still upstream.
    wait_refused(gw.proxy_addr(), Duration::from_secs(3)).await;
    assert!(!in_flight.is_finished(), "the upstream answers after 7 s");
    let (status, body) = in_flight.await.unwrap().expect("the in-flight request");
    assert_eq!((status, body.as_str()), (200, "done"));
    // Right after it, not when the grace period ends (30 s).
    wait_exit_before_grace_end(&mut gw, Duration::from_secs(10)).await;
    assert_eq!(
        access_lines(&gw).len(),
        1,
        "the in-flight request is logged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn post_drain_does_what_sigterm_does() {
    let app = fixed().await;
    let mut gw = start_with(&app, "2s").await;
    let client = common::client();

    // The admin rules for state-changing requests apply.
    let refused = client
        .post(gw.admin_url("/drain"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        ready_status(&gw).await,
        Some(200),
        "a refused drain changes nothing"
    );
    let wrong_method = client.get(gw.admin_url("/drain")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);

    let resp = client.post(gw.admin_url("/drain")).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["result"], "draining");
    assert_eq!(body["drain_delay"], "2s");
    wait_not_ready(&gw, Duration::from_secs(1)).await;
    let ready: serde_json::Value = client
        .get(gw.admin_url("/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "draining");
    served_during_the_drain_delay(&gw).await;
    let again = client.post(gw.admin_url("/drain")).send().await.unwrap();
    assert_eq!(again.status(), 202);
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["result"], "already draining");

    wait_refused(gw.proxy_addr(), Duration::from_secs(6)).await;
    wait_exit_before_grace_end(&mut gw, Duration::from_secs(6)).await;
}

/// SIGQUIT with no new process on the upgrade socket: Pingora tries to hand
/// the listeners over for about 5 s, keeps serving for 5 s more, then stops
/// them. `/ready` fails from the start and the process exits once drained,
/// with no drain delay and long before the 30 s grace period would end.
#[tokio::test(flavor = "multi_thread")]
async fn sigquit_fails_ready_at_once_and_exits_once_drained() {
    let app = fixed().await;
    // A long drain delay that SIGQUIT must not wait for.
    let mut gw = start_with(&app, "60s").await;
    gw.signal(Signal::SIGQUIT).unwrap();
    wait_not_ready(&gw, Duration::from_secs(2)).await;
    assert_eq!(get_on_new_connection(&gw).await.0, 200);
    wait_exit_before_grace_end(&mut gw, Duration::from_secs(20)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgraded_process_replaces_the_old_one_which_exits_once_drained() {
    let app = fixed().await;
    let mut old = start_with(&app, "60s").await;
    let mut new = old.spawn_upgrade().unwrap();
    harness::wait::until(
        "the new process to listen on the upgrade socket",
        Duration::from_secs(10),
        || {
            let sock = std::path::PathBuf::from(old.var("dir").unwrap()).join("upgrade.sock");
            std::future::ready(sock.exists().then_some(()))
        },
    )
    .await
    .unwrap();
    old.signal(Signal::SIGQUIT).unwrap();
    new.wait_ready().await.unwrap();
    // Pingora's 5 s hand-over window, then the drain: not the 30 s grace.
    wait_exit_before_grace_end(&mut old, Duration::from_secs(12)).await;
    assert_eq!(get_on_new_connection(&new).await, (200, "ok".to_string()));
}
