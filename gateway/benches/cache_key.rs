//! Cache key building per request: the framed primary key, and the
//! Pingora `CacheKey` hash the storage looks entries up by.

use criterion::{criterion_group, criterion_main, Criterion};
use gateway::parts::{cache_key, primary};
use http::HeaderName;
use pingora::cache::key::CacheHashKey;
use pingora::http::RequestHeader;
use std::hint::black_box;

fn request() -> RequestHeader {
    let mut req =
        RequestHeader::build("GET", b"/assets/app.js?v=42", None).expect("a valid request header");
    req.insert_header("host", "Static.Example.COM:8080")
        .expect("a valid request header");
    req.insert_header("accept-language", "en-GB,en;q=0.9")
        .expect("a valid request header");
    req.insert_header("accept-encoding", "gzip, br")
        .expect("a valid request header");
    req
}

fn key_building(c: &mut Criterion) {
    let req = request();
    let host = "Static.Example.COM:8080";
    let path = "/assets/app.js?v=42";
    let key_headers = [
        HeaderName::from_static("accept-language"),
        HeaderName::from_static("accept-encoding"),
    ];
    let mut group = c.benchmark_group("cache_key");
    group.bench_function("primary_no_key_headers", |b| {
        b.iter(|| {
            primary(
                black_box("http"),
                black_box(host),
                black_box(path),
                &req,
                &[],
            )
        })
    });
    group.bench_function("primary_two_key_headers", |b| {
        b.iter(|| {
            primary(
                black_box("http"),
                black_box(host),
                black_box(path),
                &req,
                &key_headers,
            )
        })
    });
    group.bench_function("primary_and_hash", |b| {
        b.iter(|| {
            let key = cache_key(primary("http", black_box(host), black_box(path), &req, &[]));
            key.primary_bin()
        })
    });
    group.finish();
}

criterion_group!(benches, key_building);
criterion_main!(benches);
