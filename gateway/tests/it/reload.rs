//! Hot reload: a valid config moves traffic, an invalid one is rejected with
//! its message while the old config keeps serving; SIGHUP reloads too.

use crate::common::{config, get, start, tally};
use harness::upstream::Fixed;
use harness::{MockUpstream, Template};
use nix::sys::signal::Signal;
use std::time::Duration;

fn routed_to(cluster: &str) -> String {
    config(&format!(
        r#"
clusters:
  blue: {{ endpoints: [ {{ address: "${{upstream.blue}}", name: blue }} ] }}
  green: {{ endpoints: [ {{ address: "${{upstream.green}}", name: green }} ] }}
routes:
  - {{ name: main, match: {{ path_prefix: / }}, cluster: {cluster} }}
"#
    ))
}

/// Blue and green mocks, and a gateway routing everything to blue.
async fn routed_to_blue() -> ([MockUpstream; 2], harness::GatewayProcess) {
    let blue = MockUpstream::start("blue", Fixed::ok("blue"))
        .await
        .unwrap();
    let green = MockUpstream::start("green", Fixed::ok("green"))
        .await
        .unwrap();
    let template = Template::new(&routed_to("blue"))
        .upstream("blue", blue.addr())
        .upstream("green", green.addr());
    let gw = start(&template).await;
    ([blue, green], gw)
}

#[tokio::test(flavor = "multi_thread")]
async fn valid_reloads_apply_and_invalid_ones_keep_the_old_config() {
    let (_mocks, gw) = routed_to_blue().await;
    assert_eq!(tally(&gw, "/", 10).await.get("blue"), Some(&10));

    gw.rewrite_config(&routed_to("green")).unwrap();
    let (status, body) = gw.reload().await.unwrap();
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("applied")),
        "{body}"
    );
    assert_eq!(body["generation"], 2);
    assert_eq!(tally(&gw, "/", 10).await.get("green"), Some(&10));

    gw.rewrite_config(&routed_to("purple")).unwrap();
    let (status, body) = gw.reload().await.unwrap();
    assert_eq!(
        (status, body["result"].as_str()),
        (422, Some("rejected")),
        "{body}"
    );
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("gateway.routes[0].cluster: unknown cluster `purple`"),
        "{error}"
    );
    assert_eq!(
        body["generation"], 2,
        "the previous generation keeps serving"
    );
    assert_eq!(tally(&gw, "/", 10).await.get("green"), Some(&10));
    assert!(
        gw.log().contains("config reload rejected"),
        "the rejection is logged"
    );

    gw.rewrite_config("gateway: [").unwrap();
    let (status, body) = gw.reload().await.unwrap();
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("invalid YAML"),
        "{body}"
    );

    assert_eq!(
        gw.metric("gateway_config_reloads_total", &[("result", "success")])
            .await,
        1.0
    );
    assert_eq!(
        gw.metric("gateway_config_reloads_total", &[("result", "failure")])
            .await,
        2.0
    );
    assert_eq!(get(&gw, "/", &[]).await.upstream(), "green");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_config_file() {
    let (_mocks, gw) = routed_to_blue().await;
    gw.rewrite_config(&routed_to("green")).unwrap();
    gw.signal(Signal::SIGHUP).unwrap();
    gw.wait_metric(
        "gateway_config_reloads_total",
        &[("result", "success")],
        1.0,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(tally(&gw, "/", 10).await.get("green"), Some(&10));
}
