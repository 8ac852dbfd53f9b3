//! Distribution: round robin, weights, random, consistent hashing and sticky
//! sessions, measured as per-upstream hit counts.

use crate::common::{config, get, start, tally};
use harness::upstream::Fixed;
use harness::{MockUpstream, Template};
use std::collections::BTreeMap;
use std::time::Duration;

async fn mocks(names: &[&str]) -> (Vec<MockUpstream>, Template, String) {
    let mut list = Vec::new();
    let mut endpoints = String::new();
    let mut template = Template::new("");
    for name in names {
        let m = MockUpstream::start(name, Fixed::ok(name)).await.unwrap();
        template = template.upstream(name, m.addr());
        endpoints.push_str(&format!(
            "{{ address: \"${{upstream.{name}}}\", name: {name} }}, "
        ));
        list.push(m);
    }
    (list, template, endpoints)
}

fn single_route(cluster: &str) -> String {
    format!("{cluster}\nroutes:\n  - {{ name: all, match: {{ path_prefix: / }}, cluster: pool }}\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn round_robin_spreads_300_requests_100_each() {
    let (mocks, template, endpoints) = mocks(&["a", "b", "c"]).await;
    let body = single_route(&format!(
        "clusters:\n  pool: {{ endpoints: [ {endpoints} ], balance: round_robin }}"
    ));
    let gw = start(&template.with_text(&config(&body))).await;
    let counts = tally(&gw, "/", 300).await;
    assert_eq!(
        counts,
        BTreeMap::from([("a".into(), 100), ("b".into(), 100), ("c".into(), 100)])
    );
    assert_eq!(
        mocks.iter().map(MockUpstream::hits).collect::<Vec<_>>(),
        vec![100, 100, 100]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn weights_3_to_1_split_400_requests_exactly_300_100() {
    let (_mocks, template, _) = mocks(&["heavy", "light"]).await;
    let body = single_route(
        "clusters:\n  pool:\n    balance: weighted\n    endpoints: [ { address: \"${upstream.heavy}\", name: heavy, weight: 3 }, { address: \"${upstream.light}\", name: light, weight: 1 } ]",
    );
    let gw = start(&template.with_text(&config(&body))).await;
    let counts = tally(&gw, "/", 400).await;
    // Weighted round robin is deterministic: each cycle of 4 picks heavy 3
    // times and light once, so 400 requests split exactly.
    assert_eq!(
        counts,
        BTreeMap::from([("heavy".into(), 300), ("light".into(), 100)])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn random_balancing_follows_weights() {
    let (_mocks, template, _) = mocks(&["heavy", "light"]).await;
    let body = single_route(
        "clusters:\n  pool:\n    balance: random\n    endpoints: [ { address: \"${upstream.heavy}\", name: heavy, weight: 3 }, { address: \"${upstream.light}\", name: light, weight: 1 } ]",
    );
    let gw = start(&template.with_text(&config(&body))).await;
    let counts = tally(&gw, "/", 2000).await;
    eprintln!("random 3:1 over 2000 requests: {counts:?}");
    let share = counts["heavy"] as f64 / 2000.0;
    // 2000 draws at p = 0.75: the standard deviation of the share is ~0.0097,
    // so +-0.0375 (5% of 0.75) is a ~3.9 sigma band.
    assert!((share - 0.75).abs() <= 0.0375, "{counts:?}");
}

async fn owners(gw: &harness::GatewayProcess, users: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(users);
    for u in 0..users {
        let user = format!("user-{u}");
        let first = get(gw, "/", &[("x-user", &user)]).await;
        let second = get(gw, "/", &[("x-user", &user)]).await;
        assert_eq!(first.status, 200);
        assert_eq!(
            first.upstream(),
            second.upstream(),
            "{user} moved between two requests"
        );
        out.push(first.upstream().to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn consistent_hash_is_stable_and_remaps_few_keys_when_an_endpoint_joins() {
    let (_mocks, template, endpoints) = mocks(&["a", "b", "c", "d"]).await;
    let (_, _, three) = mocks(&["a", "b", "c"]).await;
    let cluster = |eps: &str| {
        single_route(&format!(
            "clusters:\n  pool: {{ endpoints: [ {eps} ], balance: {{ consistent_hash: {{ key: \"header:x-user\" }} }} }}"
        ))
    };
    let gw = start(&template.with_text(&config(&cluster(&three)))).await;
    let before = owners(&gw, 200).await;
    assert!(!before.iter().any(|o| o == "d"));
    for name in ["a", "b", "c"] {
        assert!(before.iter().any(|o| o == name), "{name} owns no key");
    }

    gw.rewrite_config(&config(&cluster(&endpoints))).unwrap();
    let (status, body) = gw.reload().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let after = owners(&gw, 200).await;
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    let to_new = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a && *a == "d")
        .count();
    eprintln!("consistent hash: {moved} of 200 keys moved, all to the new endpoint");
    assert!(moved > 0, "the new endpoint took no keys");
    assert_eq!(moved, to_new, "keys moved between old endpoints");
    assert!(moved <= 80, "{moved} of 200 keys remapped (more than 40%)");
}

#[tokio::test(flavor = "multi_thread")]
async fn sticky_cookie_pins_a_client_until_its_endpoint_fails() {
    let (mocks, template, endpoints) = mocks(&["a", "b"]).await;
    let body = single_route(&format!(
        "clusters:\n  pool:\n    endpoints: [ {endpoints} ]\n    sticky: {{ cookie: gw_pin }}\n    health_check: {{ kind: tcp, interval: 100ms, unhealthy_after: 1, healthy_after: 1 }}"
    ));
    let gw = start(&template.with_text(&config(&body))).await;

    let first = get(&gw, "/", &[]).await;
    let set_cookie = first
        .header("set-cookie")
        .expect("a new client gets a cookie")
        .to_string();
    assert!(
        set_cookie.starts_with("gw_pin=") && set_cookie.contains("HttpOnly"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let pinned = first.upstream().to_string();
    for _ in 0..20 {
        let r = get(&gw, "/", &[("cookie", &cookie)]).await;
        assert_eq!(r.upstream(), pinned);
        assert_eq!(
            r.header("set-cookie"),
            None,
            "a pinned client is not re-pinned"
        );
    }

    let pinned_mock = mocks.iter().find(|m| m.name() == pinned).unwrap();
    pinned_mock.down().await;
    gw.wait_metric(
        "gateway_upstream_healthy",
        &[("endpoint", &pinned)],
        0.0,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let moved = get(&gw, "/", &[("cookie", &cookie)]).await;
    assert_eq!(moved.status, 200);
    assert_ne!(moved.upstream(), pinned);
    assert!(
        moved.header("set-cookie").is_some(),
        "the client is pinned to its new endpoint"
    );
}
