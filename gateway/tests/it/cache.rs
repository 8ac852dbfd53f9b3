//! Response caching against the real binary: RFC 9111 storage rules, `Age`
//! and `Cache-Status`, revalidation, the fill lock, stale-if-error, purge,
//! and responses cut short never being stored.

use crate::common::{client, config, get, send, start};
use harness::upstream::{BodyMismatch, Cacheable, Fixed, Slow, StallBody};
use harness::{GatewayProcess, MockUpstream, Template};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One cluster `origin`, a caching route `/c` and a plain route `/plain`.
fn cache_config(cache: &str) -> String {
    config(&format!(
        r#"
clusters:
  origin:
    endpoints: [ {{ address: "${{upstream.origin}}", name: origin }} ]
    retries: {{ attempts: 0 }}
    passive_health: {{ consecutive_failures: 0 }}
    timeouts: {{ read: 500ms }}
routes:
  - {{ name: cached, match: {{ path_prefix: /c }}, cluster: origin, cache: {cache} }}
  - {{ name: plain, match: {{ path_prefix: /plain }}, cluster: origin }}
"#
    ))
}

async fn gateway_for(origin: &MockUpstream, cache: &str) -> GatewayProcess {
    start(&Template::new(&cache_config(cache)).upstream("origin", origin.addr())).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_response_is_served_from_cache_with_age_and_cache_status() {
    let origin = MockUpstream::start("origin", Cacheable::new("max-age=60"))
        .await
        .unwrap();
    let gw = gateway_for(&origin, "{}").await;

    let first = get(&gw, "/c/a", &[]).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body, "version 1");
    assert_eq!(
        first.header("cache-status"),
        Some("gateway; fwd=uri-miss; fwd-status=200; stored")
    );
    let second = get(&gw, "/c/a", &[]).await;
    assert_eq!(second.body, "version 1");
    assert_eq!(second.header("cache-status"), Some("gateway; hit"));
    let age: u64 = second.header("age").expect("Age on a hit").parse().unwrap();
    assert!(age <= 60, "{age}");
    assert_eq!(origin.hits(), 1);
    // Each response carries its own request id, not the first one's.
    assert_ne!(first.header("x-request-id"), second.header("x-request-id"));
    // The key uses the normalised path: these are the same resource.
    let dotted = get(&gw, "/c/x/../a", &[]).await;
    assert_eq!(dotted.header("cache-status"), Some("gateway; hit"));
    // Host case and port do not matter; the query does.
    let host = format!("LOCALHOST:{}", gw.proxy_addr().port());
    let _ = get(&gw, "/c/q", &[("host", "localhost")]).await;
    let upper = get(&gw, "/c/q", &[("host", host.as_str())]).await;
    assert_eq!(upper.header("cache-status"), Some("gateway; hit"));
    let query = get(&gw, "/c/q?x=1", &[("host", "localhost")]).await;
    assert_eq!(
        query.header("cache-status"),
        Some("gateway; fwd=uri-miss; fwd-status=200; stored")
    );
    // A route without cache has no Cache-Status and always reaches the origin.
    let plain = get(&gw, "/plain", &[]).await;
    assert_eq!(plain.header("cache-status"), None);
    let before = origin.hits();
    let _ = get(&gw, "/plain", &[]).await;
    assert_eq!(origin.hits(), before + 1);
    // Lookups are counted in the logging phase, after the client has the
    // response: wait for the count rather than read it once.
    gw.wait_metric(
        "gateway_cache_lookups_total",
        &[("route", "cached"), ("status", "hit")],
        3.0,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn directives_that_forbid_storing_are_obeyed() {
    for cc in ["no-store", "private, max-age=60"] {
        let origin = MockUpstream::start("origin", Cacheable::new(cc))
            .await
            .unwrap();
        let gw = gateway_for(&origin, "{ ttl: 60s }").await;
        let a = get(&gw, "/c/a", &[]).await;
        let b = get(&gw, "/c/a", &[]).await;
        assert_eq!(
            (a.body.as_str(), b.body.as_str()),
            ("version 1", "version 2"),
            "{cc}"
        );
        assert_eq!(
            b.header("cache-status"),
            Some("gateway; fwd=uri-miss; fwd-status=200"),
            "{cc}"
        );
        assert_eq!(origin.hits(), 2, "{cc}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_and_set_cookie_responses_are_not_stored_and_post_bypasses() {
    let origin = MockUpstream::start("origin", Cacheable::new("max-age=60"))
        .await
        .unwrap();
    let gw = gateway_for(&origin, "{}").await;
    let _ = get(&gw, "/c/auth", &[("authorization", "Bearer t")]).await;
    let again = get(&gw, "/c/auth", &[("authorization", "Bearer t")]).await;
    assert_eq!(again.body, "version 2");

    let c = client();
    let post = send(&c, c.post(gw.url("/c/auth"))).await;
    assert_eq!(post.header("cache-status"), Some("gateway; fwd=bypass"));

    let cookie_origin = MockUpstream::start("origin", Fixed::ok("hi"))
        .await
        .unwrap();
    let gw2 = gateway_for(&cookie_origin, "{ ttl: 60s }").await;
    // Fixed sends no Set-Cookie: stored with the route ttl.
    let _ = get(&gw2, "/c/f", &[]).await;
    assert_eq!(
        get(&gw2, "/c/f", &[]).await.header("cache-status"),
        Some("gateway; hit")
    );
    assert_eq!(cookie_origin.hits(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_entry_is_revalidated_with_a_conditional_request() {
    // no-cache: stored, but validated before every use.
    let origin = MockUpstream::start("origin", Cacheable::new("no-cache"))
        .await
        .unwrap();
    let gw = gateway_for(&origin, "{}").await;
    assert_eq!(get(&gw, "/c/r", &[]).await.body, "version 1");
    let r = get(&gw, "/c/r", &[]).await;
    assert_eq!(r.status, 200);
    // The origin answered 304: the stored body is served, not refetched.
    assert_eq!(r.body, "version 1");
    assert_eq!(
        r.header("cache-status"),
        Some("gateway; fwd=stale; fwd-status=304")
    );
    assert_eq!(origin.hits(), 2);
    // Counted in the logging phase, after the client has the response.
    gw.wait_metric(
        "gateway_cache_revalidations_total",
        &[("route", "cached"), ("result", "not_modified")],
        1.0,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_conditional_on_a_fresh_entry_gets_304() {
    let origin = MockUpstream::start("origin", Cacheable::new("max-age=60"))
        .await
        .unwrap();
    let gw = gateway_for(&origin, "{}").await;
    let first = get(&gw, "/c/e", &[]).await;
    let etag = first.header("etag").unwrap().to_string();
    let r = get(&gw, "/c/e", &[("if-none-match", etag.as_str())]).await;
    assert_eq!(r.status, 304);
    assert_eq!(origin.hits(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_misses_make_one_origin_request() {
    let origin = MockUpstream::start(
        "origin",
        Slow {
            delay: Duration::from_millis(300),
            then: Arc::new(Cacheable::new("max-age=60")),
        },
    )
    .await
    .unwrap();
    let gw = gateway_for(&origin, "{ lock_timeout: 5s }").await;
    let c = client();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let c = c.clone();
        let url = gw.url("/c/herd");
        tasks.push(tokio::spawn(async move {
            let r = c.get(url).send().await.expect("request");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), (200, "version 1".to_string()));
    }
    assert_eq!(origin.hits(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_fill_releases_the_waiters_to_fetch_themselves() {
    // Every fill is cut short, so nothing is ever stored; waiters behind a
    // failed writer compete again instead of hanging.
    let origin = MockUpstream::start(
        "origin",
        BodyMismatch {
            declared: 100,
            body: "short".into(),
        },
    )
    .await
    .unwrap();
    let gw = gateway_for(&origin, "{ ttl: 60s, lock_timeout: 3s }").await;
    let c = client();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let c = c.clone();
        let url = gw.url("/c/fail");
        tasks.push(tokio::spawn(async move {
            match c.get(url).send().await {
                Ok(r) => r.bytes().await.map(|b| b.len()).unwrap_or(0),
                Err(_) => 0,
            }
        }));
    }
    for t in tasks {
        // Nobody receives a complete 100-byte body.
        assert!(t.await.unwrap() < 100);
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(origin.hits() >= 2, "hits {}", origin.hits());
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_cut_short_are_never_stored() {
    let origin = MockUpstream::start(
        "origin",
        BodyMismatch {
            declared: 100,
            body: "short".into(),
        },
    )
    .await
    .unwrap();
    let gw = gateway_for(&origin, "{ ttl: 60s }").await;
    let c = client();
    for _ in 0..2 {
        let r = c.get(gw.url("/c/p")).send().await.unwrap();
        assert!(
            r.bytes().await.is_err(),
            "a short body must not look complete"
        );
    }
    assert_eq!(origin.hits(), 2, "the second request must go to the origin");

    origin.set_behaviour(StallBody {
        first: "begin".into(),
        rest: 10,
        stall: Duration::from_secs(5),
    });
    for _ in 0..2 {
        let r = c.get(gw.url("/c/s")).send().await.unwrap();
        assert!(r.bytes().await.is_err());
    }
    assert_eq!(origin.hits(), 4);
    assert_eq!(gw.metric("gateway_cache_bytes", &[]).await, 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_entry_is_served_when_the_origin_fails_within_stale_if_error() {
    let origin = MockUpstream::start("origin", Cacheable::new("max-age=1, stale-if-error=60"))
        .await
        .unwrap();
    let gw = gateway_for(&origin, "{}").await;
    assert_eq!(get(&gw, "/c/sie", &[]).await.body, "version 1");
    origin.down().await;
    // Bounded wait for the entry to go stale (max-age=1).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = get(&gw, "/c/sie", &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "version 1");
        if r.header("cache-status") == Some("gateway; fwd=stale; detail=stale-if-error") {
            break;
        }
        assert_eq!(r.header("cache-status"), Some("gateway; hit"));
        assert!(Instant::now() < deadline, "the entry never went stale");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Without stale-if-error the failure reaches the client.
    let r = get(&gw, "/c/other", &[]).await;
    assert_eq!(r.status, 502);
}

#[tokio::test(flavor = "multi_thread")]
async fn purge_removes_entries_for_allowed_clients_only() {
    let origin = MockUpstream::start("origin", Cacheable::new("max-age=60"))
        .await
        .unwrap();
    let body = cache_config("{}").replace(
        "\n    - { name: plain",
        "\n    - { name: locked, match: { path_prefix: /locked }, cluster: origin, cache: { purge: { allow: [\"10.0.0.0/8\"] } } }\n    - { name: plain",
    );
    let gw = start(&Template::new(&body).upstream("origin", origin.addr())).await;
    let c = client();
    let purge =
        |path: &str| c.request(reqwest::Method::from_bytes(b"PURGE").unwrap(), gw.url(path));
    let _ = get(&gw, "/c/p", &[]).await;
    assert_eq!(
        get(&gw, "/c/p", &[]).await.header("cache-status"),
        Some("gateway; hit")
    );
    assert_eq!(send(&c, purge("/c/p")).await.status, 200);
    let after = get(&gw, "/c/p", &[]).await;
    assert_eq!(after.body, "version 2");
    assert_eq!(origin.hits(), 2);
    assert_eq!(send(&c, purge("/c/none")).await.status, 404);
    assert_eq!(send(&c, purge("/plain")).await.status, 405);
    let _ = get(&gw, "/locked", &[]).await;
    assert_eq!(send(&c, purge("/locked")).await.status, 403);

    // Admin purge by URL and by prefix.
    let host = format!("127.0.0.1:{}", gw.proxy_addr().port());
    let admin = |json: serde_json::Value| c.post(gw.admin_url("/cache/purge")).json(&json);
    let r = send(
        &c,
        admin(serde_json::json!({ "host": host, "path": "/c/p" })),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["purged"].clone()),
        (200, serde_json::json!(1))
    );
    let r = send(
        &c,
        admin(serde_json::json!({ "host": host, "path": "/c/p" })),
    )
    .await;
    assert_eq!(r.status, 404);
    let _ = get(&gw, "/c/x/1", &[]).await;
    let _ = get(&gw, "/c/x/2", &[]).await;
    let r = send(&c, admin(serde_json::json!({ "prefix": "/c/x/" }))).await;
    assert_eq!(r.json()["purged"], 2);
    let r = send(&c, admin(serde_json::json!({ "nonsense": 1 }))).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        gw.metric("gateway_cache_purges_total", &[("result", "forbidden")])
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn vary_keeps_one_entry_per_selected_header_value() {
    let origin = MockUpstream::start("origin", Cacheable::new("max-age=60"))
        .await
        .unwrap();
    let gw = gateway_for(&origin, "{ key_headers: [x-tenant] }").await;
    // Cacheable sends no Vary; key_headers split the key instead.
    let a = get(&gw, "/c/v", &[("x-tenant", "a")]).await;
    let b = get(&gw, "/c/v", &[("x-tenant", "b")]).await;
    assert_ne!(a.body, b.body);
    assert_eq!(get(&gw, "/c/v", &[("x-tenant", "a")]).await.body, a.body);
    assert_eq!(get(&gw, "/c/v", &[("x-tenant", "b")]).await.body, b.body);
    assert_eq!(origin.hits(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_stays_within_max_bytes_by_evicting() {
    let origin = MockUpstream::start("origin", Fixed::ok(&"x".repeat(1000)))
        .await
        .unwrap();
    let text = cache_config("{ ttl: 60s }").replace(
        "gateway:\n",
        "gateway:\n  cache_storage: { max_bytes: 20KiB, max_object_bytes: 4KiB }\n",
    );
    let gw = start(&Template::new(&text).upstream("origin", origin.addr())).await;
    let c = client();
    for i in 0..100 {
        let r = send(&c, c.get(gw.url(&format!("/c/e{i}")))).await;
        assert_eq!(r.status, 200);
    }
    // Evictions run right after each fill; wait (bounded) for them to settle.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let bytes = gw.metric("gateway_cache_bytes", &[]).await;
        if bytes <= 20.0 * 1024.0 {
            break;
        }
        assert!(Instant::now() < deadline, "cache holds {bytes} bytes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gw.metric("gateway_cache_evictions_total", &[]).await >= 70.0);
    // Eviction stops once under the limit: the store is bounded, not
    // emptied. (Which entries survive is not asserted: the LRU is sharded
    // and picks shards by power of two random choices, so with ~20 entries
    // over 16 shards even the newest one can be the one evicted.)
    assert!(gw.metric("gateway_cache_bytes", &[]).await >= 10.0 * 1024.0);
}

/// The cache store is process-wide: a reload keeps what is stored, and a
/// changed `cache_storage` is reported as needing a restart, not applied.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_keeps_stored_entries_and_cache_storage_needs_a_restart() {
    let origin = MockUpstream::start("origin", Cacheable::new("max-age=60"))
        .await
        .unwrap();
    let gw = gateway_for(&origin, "{}").await;
    assert_eq!(get(&gw, "/c/kept", &[]).await.body, "version 1");

    // Same routes, plus a plain route: the cached entry survives.
    let more_routes = cache_config("{}").replace(
        "    - { name: plain,",
        "    - { name: other, match: { path_prefix: /other }, cluster: origin }\n    - { name: plain,",
    );
    gw.rewrite_config(&more_routes).unwrap();
    let (status, body) = gw.reload().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["needs_restart"], serde_json::json!([]), "{body}");
    let after = get(&gw, "/c/kept", &[]).await;
    assert_eq!(after.body, "version 1");
    assert_eq!(after.header("cache-status"), Some("gateway; hit"));
    assert_eq!(origin.hits(), 1);

    // A new store size applies only after a restart; entries stay.
    let resized = more_routes.replace(
        "gateway:\n",
        "gateway:\n  cache_storage: { max_bytes: 1MiB, max_object_bytes: 64KiB }\n",
    );
    gw.rewrite_config(&resized).unwrap();
    let (status, body) = gw.reload().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["needs_restart"],
        serde_json::json!(["gateway.cache_storage"]),
        "{body}"
    );
    assert_eq!(
        get(&gw, "/c/kept", &[]).await.header("cache-status"),
        Some("gateway; hit")
    );
    assert_eq!(origin.hits(), 1);
}
