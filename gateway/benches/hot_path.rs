//! Per-request work that does not touch the network: route matching over a
//! realistic table, header rules, query rewriting, and the client address
//! and `X-Forwarded-*` headers.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use gateway::config::{parse, ConfigSource, LoadedConfig};
use gateway::parts::HeaderRules;
use gateway::parts::QueryRewrite;
use gateway::Generation;
use http::Method;
use pingora::http::ResponseHeader;
use std::hint::black_box;

/// 60 routes: 20 hosts x 3 prefixes, plus a catch-all.
fn table_config() -> String {
    let mut routes = String::new();
    for h in 0..20 {
        for p in ["/", "/api", "/api/v1/users"] {
            routes.push_str(&format!(
                "    - {{ match: {{ host: \"svc{h}.example.com\", path_prefix: \"{p}\", methods: [GET, POST] }}, cluster: c }}\n"
            ));
        }
    }
    routes.push_str("    - { match: { host: \"*.example.org\" }, cluster: c }\n");
    format!(
        "version: 1\ngateway:\n  listeners: [ {{ address: \"127.0.0.1:1\" }} ]\n  clusters:\n    c: {{ endpoints: [ {{ address: \"127.0.0.1:2\" }} ] }}\n  routes:\n{routes}"
    )
}

fn route_matching(c: &mut Criterion) {
    let config = parse(&table_config(), "bench.yaml", &|_| None).expect("bench config");
    let loaded = LoadedConfig {
        config,
        source: ConfigSource::Embedded,
    };
    let generation = Generation::build(loaded, None, 1).expect("bench generation");
    let mut group = c.benchmark_group("route_match");
    group.bench_function("exact_host_longest_prefix", |b| {
        b.iter(|| {
            generation.routes.find(
                black_box("svc17.example.com"),
                black_box("/api/v1/users/42"),
                &Method::GET,
            )
        })
    });
    group.bench_function("wildcard_host", |b| {
        b.iter(|| {
            generation.routes.find(
                black_box("a.example.org:8080"),
                black_box("/x"),
                &Method::GET,
            )
        })
    });
    group.bench_function("no_match", |b| {
        b.iter(|| {
            generation
                .routes
                .find(black_box("other.net"), black_box("/x"), &Method::GET)
        })
    });
    group.finish();
}

fn header_and_query_rules(c: &mut Criterion) {
    let mut cfg = gateway::config::HeaderRulesConfig::default();
    cfg.set.insert(
        "Strict-Transport-Security".into(),
        "max-age=63072000".into(),
    );
    cfg.remove.push("X-Powered-By".into());
    let rules = HeaderRules::new(&cfg);
    c.bench_function("response_header_rules", |b| {
        b.iter(|| {
            let mut resp = ResponseHeader::build(200, Some(4)).expect("header");
            resp.insert_header("X-Powered-By", "php").expect("insert");
            rules.apply(&mut resp);
            resp
        })
    });
    let query = QueryRewrite::new(Some(&gateway::config::QueryConfig {
        remove: vec!["utm_source".into(), "fbclid".into()],
        set: [("ref".to_string(), "gateway".to_string())].into(),
    }));
    c.bench_function("query_rewrite", |b| {
        b.iter(|| query.apply(black_box(Some("a=1&utm_source=mail&fbclid=x&b=2"))))
    });
}

fn forwarded_headers(c: &mut Criterion) {
    use gateway::parts::ClientConn;
    use gateway::parts::NetList;
    use pingora::http::RequestHeader;
    let trusted =
        NetList::parse(&["10.0.0.0/8".to_string(), "127.0.0.0/8".to_string()]).expect("networks");
    let mut req = RequestHeader::build("GET", b"/api/v1/users", Some(8)).expect("request");
    req.insert_header("host", "api.example.com").expect("host");
    req.insert_header("x-forwarded-for", "203.0.113.9, 10.1.1.1")
        .expect("xff");
    let untrusted = ClientConn {
        peer: Some("192.0.2.1".parse().expect("ip")),
        peer_trusted: false,
        tls: false,
    };
    let via_proxy = ClientConn {
        peer: Some("127.0.0.1".parse().expect("ip")),
        peer_trusted: true,
        tls: false,
    };
    let mut group = c.benchmark_group("forwarded_headers");
    group.bench_function("client_ip_behind_trusted_proxy", |b| {
        b.iter(|| via_proxy.client_ip(black_box(&req.headers), &trusted))
    });
    group.bench_function("untrusted_peer_replace", |b| {
        b.iter_batched(
            || req.clone(),
            |mut r| {
                untrusted.forward_headers(&mut r).expect("headers");
                r
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("trusted_peer_append", |b| {
        b.iter_batched(
            || req.clone(),
            |mut r| {
                via_proxy.forward_headers(&mut r).expect("headers");
                r
            },
            BatchSize::SmallInput,
        )
    });
    // What the proxy did before client.rs: format! the appended value.
    let ip: std::net::IpAddr = "192.0.2.1".parse().expect("ip");
    group.bench_function("previous_format_append", |b| {
        b.iter_batched(
            || req.clone(),
            |mut r| {
                let forwarded = match r
                    .headers
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                {
                    Some(prior) => format!("{prior}, {ip}"),
                    None => ip.to_string(),
                };
                r.insert_header("x-forwarded-for", forwarded).expect("xff");
                r.insert_header("x-forwarded-proto", "http").expect("xfp");
                r
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    route_matching,
    header_and_query_rules,
    forwarded_headers
);
criterion_main!(benches);
