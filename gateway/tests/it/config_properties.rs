//! Every config that validation accepts compiles into a generation and
//! serves requests without a panic: routing, rewriting the upstream URI,
//! choosing an endpoint and rendering error pages all work with whatever
//! values the config holds. Configs are generated from a mix of good and
//! bad values per key; a small fixed sample also goes through `gateway -t`.

use gateway::config::{parse, ConfigSource, LoadedConfig};
use gateway::parts::page;
use gateway::Generation;
use http::{HeaderValue, Method};
use pingora::http::RequestHeader;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// Strings that hit the edges of header, URI and cookie syntax.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("a b".to_string()),
        Just("x\ny".to_string()),
        Just("é".to_string()),
        Just("%20".to_string()),
        Just("a&b=c#d".to_string()),
        Just("text/html; charset=utf-8".to_string()),
        "[a-z0-9_-]{1,8}",
        "[ -~]{0,10}",
        "\\PC{0,6}",
    ]
}

/// Mostly a value that passes validation, sometimes an edge case: every
/// key gets exercised, and enough whole configs are accepted.
fn mostly<T: std::fmt::Debug + Clone>(
    good: impl Strategy<Value = T> + 'static,
    edge: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = T> {
    prop_oneof![12 => good.boxed(), 1 => edge.boxed()]
}

fn weight() -> impl Strategy<Value = u64> {
    prop_oneof![
        150 => 1u64..=5,
        1 => Just(0u64),
        1 => Just(1000),
        1 => Just(1001),
        1 => Just(9_999),
        1 => Just(1_000_000_000),
        1 => Just(u64::from(u32::MAX) + 2),
    ]
}

/// A pool of endpoints on distinct ports from `first_port`, or now and then
/// one address twice.
fn pool(first_port: u16, sizes: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Value>> {
    (
        proptest::collection::vec((weight(), proptest::option::of("[a-z]{1,6}")), sizes),
        proptest::bool::weighted(0.03),
    )
        .prop_map(move |(eps, duplicate)| {
            eps.into_iter()
                .enumerate()
                .map(|(i, (weight, name))| {
                    let port = if duplicate {
                        first_port
                    } else {
                        first_port + i as u16
                    };
                    endpoint(port, weight, name)
                })
                .collect()
        })
}

fn endpoint(port: u16, weight: u64, name: Option<String>) -> Value {
    {
        let mut ep = json!({ "address": format!("127.0.0.1:{port}"), "weight": weight });
        if let Some(name) = name {
            ep["name"] = json!(name);
        }
        ep
    }
}

fn balance() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("round_robin")),
        Just(json!("weighted")),
        Just(json!("random")),
        prop_oneof![
            Just("client_ip".to_string()),
            Just("path".to_string()),
            mostly("[a-z-]{1,8}", tricky_string()).prop_map(|s| format!("header:{s}")),
            mostly("[a-z]{1,8}", tricky_string()).prop_map(|s| format!("cookie:{s}")),
        ]
        .prop_map(|key| json!({ "consistent_hash": { "key": key } })),
    ]
}

fn cluster() -> impl Strategy<Value = Value> {
    (
        pool(3000, 1..4),
        pool(3100, 0..3),
        balance(),
        proptest::option::of(mostly("[a-z_]{1,8}", tricky_string())),
        proptest::option::of(prop_oneof![
            Just(json!({ "kind": "tcp", "interval": "1s" })),
            mostly("/[a-z]{0,6}", tricky_string())
                .prop_map(|p| json!({ "kind": "http", "path": p, "host": "h" })),
        ]),
        mostly(Just("http1"), prop_oneof![Just("h2c"), Just("h2")]),
        proptest::bool::weighted(0.1),
        (
            0usize..4,
            prop_oneof![Just("connect_failure"), Just("503")],
            proptest::option::of(prop_oneof![8 => 1u32..=10, 1 => Just(0u32)]),
        ),
    )
        .prop_map(
            |(
                endpoints,
                backup,
                balance,
                sticky,
                check,
                protocol,
                tls,
                (attempts, on, in_flight),
            )| {
                let mut c = json!({
                    "endpoints": endpoints,
                    "backup": backup,
                    "balance": balance,
                    "protocol": protocol,
                    "retries": { "attempts": attempts, "on": [on] },
                });
                if let Some(cookie) = sticky {
                    c["sticky"] = json!({ "cookie": cookie, "max_age": "1h" });
                }
                if let Some(check) = check {
                    c["health_check"] = check;
                }
                if tls {
                    c["tls"] = json!({ "verify": false });
                }
                if let Some(n) = in_flight {
                    c["limits"] = json!({ "in_flight": n });
                }
                c
            },
        )
}

/// A route's IP rules, size limits and body rules, mostly valid.
fn guard() -> impl Strategy<Value = Value> {
    let net = || {
        mostly(
            prop_oneof![
                Just("10.0.0.0/8".to_string()),
                Just("::1/128".to_string()),
                Just("192.0.2.7".to_string()),
                Just("2001:db8::/32".to_string()),
            ],
            tricky_string(),
        )
    };
    (
        proptest::option::of(proptest::collection::vec(net(), 0..3)),
        proptest::collection::vec(net(), 0..3),
        proptest::option::of(mostly("[0-9]{1,6}", tricky_string())),
        proptest::option::of(0usize..300),
        proptest::option::of(proptest::collection::vec(
            mostly(
                prop_oneof![
                    Just("(?i)union\\s+select".to_string()),
                    Just("<script".to_string())
                ],
                tricky_string(),
            ),
            0..3,
        )),
        proptest::option::of(mostly("[0-9]{1,6}", tricky_string())),
    )
        .prop_map(
            |(allow, deny, max_body, max_headers, deny_bodies, inspect)| {
                let mut g = json!({ "ip": { "deny": deny } });
                if let Some(allow) = allow {
                    g["ip"]["allow"] = json!(allow);
                }
                if let Some(max) = max_body {
                    g["max_body_bytes"] = json!(max);
                }
                if let Some(max) = max_headers {
                    g["max_headers"] = json!(max);
                }
                if let Some(patterns) = deny_bodies {
                    g["body_rules"] = json!({ "deny": patterns });
                    if let Some(inspect) = inspect {
                        g["body_rules"]["inspect_bytes"] = json!(inspect);
                    }
                }
                g
            },
        )
}

fn limit_key() -> impl Strategy<Value = String> {
    mostly(
        prop_oneof![
            Just("client_ip".to_string()),
            Just("client_ip+route".to_string()),
            Just("header:x-client+api_key".to_string()),
        ],
        tricky_string(),
    )
}

/// A route's `limits`, with good and edge values per key.
fn limits() -> impl Strategy<Value = Value> {
    (
        proptest::option::of((
            limit_key(),
            mostly(
                prop_oneof![Just("10/s"), Just("600/min"), Just("1/h")],
                prop_oneof![Just("0/s"), Just("1/d"), Just("ten")],
            ),
            prop_oneof![8 => 1u64..=50, 1 => Just(0u64), 1 => Just(u64::MAX)],
        )),
        proptest::option::of((
            limit_key(),
            prop_oneof![8 => 1u64..=100, 1 => Just(0u64)],
            mostly(
                prop_oneof![Just("1s"), Just("1m")],
                prop_oneof![Just("0s"), Just("10ms"), Just("2days")],
            ),
        )),
        proptest::option::of(prop_oneof![8 => 1u32..=10, 1 => Just(0u32)]),
    )
        .prop_map(|(gcra, window, in_flight)| {
            let mut l = json!({});
            if let Some((key, rate, burst)) = gcra {
                l["gcra"] = json!({ "key": key, "rate": rate, "burst": burst });
            }
            if let Some((key, max, per)) = window {
                l["window"] = json!({ "key": key, "max": max, "per": per });
            }
            if let Some(n) = in_flight {
                l["in_flight"] = json!(n);
            }
            l
        })
}

fn route(clusters: usize) -> impl Strategy<Value = Value> {
    (
        0..clusters,
        proptest::option::of(mostly(
            prop_oneof![
                Just("api.example.com".to_string()),
                Just("*.example.com".to_string())
            ],
            tricky_string(),
        )),
        proptest::option::of(mostly(
            prop_oneof![
                Just("/".to_string()),
                Just("/v1".to_string()),
                "/[a-z]{1,4}/?"
            ],
            tricky_string(),
        )),
        proptest::option::of(proptest::collection::vec(
            mostly(
                prop_oneof![Just("GET".to_string()), Just("POST".to_string())],
                tricky_string(),
            ),
            1..3,
        )),
        proptest::option::of(prop_oneof![
            Just(json!({ "strip_prefix": true })),
            mostly("[a-z/]{0,6}", tricky_string())
                .prop_map(|p| json!({ "replace_prefix": format!("/{p}") })),
        ]),
        proptest::option::of(proptest::collection::btree_map(
            mostly("[a-z_]{1,6}", tricky_string()),
            mostly("[a-zA-Z0-9%_.-]{0,8}", tricky_string()),
            0..3,
        )),
        proptest::option::of(proptest::collection::btree_map(
            mostly("x-[a-z]{1,6}", tricky_string()),
            mostly("[ -~]{0,8}", tricky_string()),
            0..3,
        )),
        proptest::option::of(mostly(
            Just("text/html; charset=utf-8".to_string()),
            tricky_string(),
        )),
        proptest::option::of(guard()),
        proptest::option::of(limits()),
    )
        .prop_map(
            |(
                cluster,
                host,
                prefix,
                methods,
                rewrite,
                query_set,
                header_set,
                content_type,
                guard,
                limits,
            )| {
                let mut matcher = json!({});
                if let Some(host) = host {
                    matcher["host"] = json!(host);
                }
                if let Some(prefix) = prefix {
                    matcher["path_prefix"] = json!(prefix);
                }
                if let Some(methods) = methods {
                    matcher["methods"] = json!(methods);
                }
                let mut r = json!({ "match": matcher, "cluster": format!("c{cluster}") });
                if let Some(rewrite) = rewrite.filter(|_| r["match"].get("path_prefix").is_some()) {
                    r["rewrite"] = rewrite;
                }
                if let Some(set) = query_set {
                    r["query"] = json!({ "set": set, "remove": ["drop"] });
                }
                if let Some(set) = header_set {
                    r["request_headers"] = json!({ "set": set });
                }
                if let Some(content_type) = content_type {
                    r["error_page"] = json!({ "file": "error.html", "content_type": content_type });
                }
                if let Some(Value::Object(guard)) = guard {
                    for (k, v) in guard {
                        r[k] = v;
                    }
                }
                if let Some(limits) = limits {
                    r["limits"] = limits;
                }
                r
            },
        )
}

fn config() -> impl Strategy<Value = Value> {
    proptest::collection::vec(cluster(), 1..3).prop_flat_map(|clusters| {
        let n = clusters.len();
        proptest::collection::vec(route(n), 1..4).prop_map(move |routes| {
            let clusters: serde_json::Map<String, Value> = clusters
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("c{i}"), c.clone()))
                .collect();
            json!({
                "version": 1,
                "gateway": {
                    "listeners": [ { "address": "127.0.0.1:6188" } ],
                    "admin": { "address": "127.0.0.1:6189" },
                    "clusters": clusters,
                    "routes": routes,
                }
            })
        })
    })
}

/// A request as the proxy sees it.
fn request() -> impl Strategy<Value = (String, String, Option<String>, Method)> {
    (
        prop_oneof![
            Just("api.example.com".to_string()),
            Just("a.example.com:8080".to_string()),
            "[a-z.]{0,12}",
        ],
        prop_oneof![
            Just("/".to_string()),
            Just("/v1/x".to_string()),
            "/[a-z0-9/._-]{0,12}"
        ],
        proptest::option::of("[a-z0-9=&]{0,12}"),
        prop_oneof![Just(Method::GET), Just(Method::POST), Just(Method::DELETE)],
    )
}

/// Does everything the request path does with a route's compiled config.
fn serve(generation: &Generation, host: &str, path: &str, query: Option<&str>, method: &Method) {
    let Some(index) = generation.routes.find(host, path, method) else {
        return;
    };
    let route = generation.routes.get(index);
    let rewritten_path = route
        .rewrite
        .path
        .apply(path, &route.rewrite.prefix)
        .unwrap_or_else(|| path.to_string());
    let rewritten_query = if route.rewrite.query.is_empty() {
        query.map(str::to_string)
    } else {
        route.rewrite.query.apply(query)
    };
    let path_and_query = match rewritten_query {
        Some(q) => format!("{rewritten_path}?{q}"),
        None => rewritten_path,
    };
    let uri = http::Uri::builder()
        .path_and_query(path_and_query.as_str())
        .build();
    assert!(uri.is_ok(), "rewritten URI `{path_and_query}` is invalid");
    let mut upstream = RequestHeader::build(method.clone(), b"/", None).expect("request header");
    route.request_headers.apply(&mut upstream);
    for client in ["10.1.2.3", "::1", "::ffff:192.0.2.7"] {
        let _ = route.guard.check_head(client.parse().ok(), &upstream);
    }
    let input = gateway::parts::KeyInput {
        client_ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        identity: None,
        headers: &upstream.headers,
        route: &route.name,
    };
    let mut permits = gateway::parts::Permits::default();
    // Admitted or refused, never a panic; a refusal is a 429 or a 503.
    if let Err(refusal) = gateway::parts::admit(&route.limits, &input, &mut permits) {
        assert!(matches!(refusal.status(), 429 | 503), "{refusal:?}");
    }
    let body = page::render(route.error_page.as_ref(), 502, "id");
    assert!(
        HeaderValue::from_str(&body.content_type).is_ok(),
        "error page content type {:?} is not a header value",
        body.content_type
    );
    let key = path.as_bytes();
    let pinned = generation
        .clusters
        .values()
        .next()
        .map(|c| c.primary.endpoints[0].sticky_id.clone());
    route
        .cluster
        .choose(key, pinned.as_deref(), &gateway::parts::Tried::default());
}

#[test]
fn every_accepted_config_builds_and_routes_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("error.html"), "{{status}} {{error}}").unwrap();
    let source = ConfigSource::File(dir.path().join("generated.yaml"));
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    });
    let strategy = (config(), proptest::collection::vec(request(), 1..8));
    let accepted = std::cell::Cell::new(0usize);
    let result = runner.run(&strategy, |(value, requests)| {
        let yaml = serde_yaml::to_string(&value).expect("YAML");
        let Ok(config) = parse(&yaml, "generated.yaml", &|_| None) else {
            return Ok(());
        };
        accepted.set(accepted.get() + 1);
        let loaded = LoadedConfig {
            config,
            source: source.clone(),
        };
        let generation = match Generation::build(loaded, None, 1) {
            Ok(g) => g,
            Err(e) => panic!("accepted config failed to build: {e}\n{yaml}"),
        };
        for (host, path, query, method) in &requests {
            serve(&generation, host, path, query.as_deref(), method);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!("{} of 256 generated configs were accepted", accepted.get());
    // Each route may carry limits, IP rules, sizes and body rules, each
    // sometimes invalid, so about a fifth of the configs are accepted
    // (measured 48-67 of 256); fewer than 25 means the generator broke.
    assert!(
        accepted.get() >= 25,
        "the generator rarely makes a valid config"
    );
}

/// A fixed sample of configs, each checked by the binary: exit 0 or 1 with a
/// message, never a crash.
#[test]
fn check_flag_never_crashes_on_a_sample_of_generated_configs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("error.html"), "{{status}}").unwrap();
    let mut runner = TestRunner::deterministic();
    let strategy = config();
    let mut exits = [0usize; 2];
    for i in 0..12 {
        let value = strategy.new_tree(&mut runner).expect("generate").current();
        let file = dir.path().join(format!("sample{i}.yaml"));
        std::fs::write(&file, serde_yaml::to_string(&value).unwrap()).unwrap();
        let out = check(&file);
        let code = out.status.code();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(code, Some(0 | 1)) && !stderr.contains("panicked"),
            "`gateway -t` exited {code:?} for {}:\n{stderr}",
            file.display()
        );
        exits[code.unwrap_or(1) as usize] += 1;
    }
    eprintln!("sample: {} accepted, {} refused", exits[0], exits[1]);
}

fn check(file: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["-t", "-c"])
        .arg(file)
        .output()
        .expect("run gateway -t")
}
