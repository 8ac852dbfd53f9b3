//! GCRA check cost beside the `governor` crate, in one run: one hot key and
//! 100,000 keys, on 1 and 2 threads, each with a policy whose checks are
//! all allowed (every check writes the key's state) and one where the hot
//! key is refused (a read only).
//!
//! On 2 threads an iteration is one check on each thread at the same time,
//! so the time reported is the wall time per check under contention.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gateway::parts::{GcraLimiter, GcraPolicy};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

const MANY_KEYS: u64 = 100_000;

/// A rate and burst both implementations are configured with.
#[derive(Clone, Copy)]
struct Setting {
    name: &'static str,
    per_second: u32,
    burst: u32,
}

const SETTINGS: [Setting; 2] = [
    // Far above what one core can ask: every check is allowed.
    Setting {
        name: "allowed",
        per_second: 1_000_000_000,
        burst: 1_000,
    },
    // The hot key's burst is spent at once: checks are refused.
    Setting {
        name: "refused",
        per_second: 1,
        burst: 1,
    },
];

trait Limiter: Sync {
    fn check(&self, key: u64) -> bool;
}

impl Limiter for GcraLimiter {
    #[inline]
    fn check(&self, key: u64) -> bool {
        GcraLimiter::check(self, &key.to_ne_bytes()).allowed
    }
}

impl Limiter for DefaultKeyedRateLimiter<u64> {
    #[inline]
    fn check(&self, key: u64) -> bool {
        self.check_key(&key).is_ok()
    }
}

fn ours(s: Setting) -> GcraLimiter {
    let policy = GcraPolicy::new(
        u64::from(s.per_second),
        Duration::from_secs(1),
        u64::from(s.burst),
    )
    .expect("bench policy");
    GcraLimiter::in_process(policy, 1_000_000)
}

fn governor(s: Setting) -> DefaultKeyedRateLimiter<u64> {
    let nz = |n: u32| NonZeroU32::new(n).expect("non-zero");
    RateLimiter::keyed(Quota::per_second(nz(s.per_second)).allow_burst(nz(s.burst)))
}

/// Runs `iters` checks on each of `threads` threads; keys cycle over `keys`.
fn run(limiter: &dyn Limiter, threads: u64, keys: u64, iters: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let mut key = t * 7919 % keys;
                for _ in 0..iters {
                    black_box(limiter.check(black_box(key)));
                    key += 1;
                    if key == keys {
                        key = 0;
                    }
                }
            });
        }
    });
    start.elapsed()
}

fn gcra(c: &mut Criterion) {
    for setting in SETTINGS {
        for (shape, keys) in [("hot_key", 1), ("many_keys", MANY_KEYS)] {
            let mut group = c.benchmark_group(format!("gcra_{shape}_{}", setting.name));
            group.warm_up_time(Duration::from_secs(1));
            group.measurement_time(Duration::from_secs(3));
            let ours = ours(setting);
            let governor = governor(setting);
            // Every key tracked before measuring: the steady state, not inserts.
            for key in 0..keys {
                Limiter::check(&ours, key);
                Limiter::check(&governor, key);
            }
            let limiters: [(&str, &dyn Limiter); 2] = [("gateway", &ours), ("governor", &governor)];
            for threads in [1, 2] {
                for (name, limiter) in limiters {
                    group.bench_function(
                        BenchmarkId::new(name, format!("{threads}_threads")),
                        |b| {
                            if threads == 1 {
                                let mut key = 0;
                                b.iter(|| {
                                    key = (key + 1) % keys;
                                    limiter.check(black_box(key))
                                })
                            } else {
                                b.iter_custom(|iters| run(limiter, threads, keys, iters))
                            }
                        },
                    );
                }
            }
            group.finish();
        }
    }
}

/// Routes whose limits always admit (rates far above one core), and one
/// without limits: the cost `request_filter` pays per request for each kind,
/// key building included.
const ADMISSION_CONFIG: &str = r#"
version: 1
gateway:
  listeners: [ { address: "127.0.0.1:6188" } ]
  clusters:
    api: { endpoints: [ { address: "127.0.0.1:3001" } ] }
  routes:
    - { name: none, match: { path_prefix: /none }, cluster: api }
    - name: gcra
      match: { path_prefix: /gcra }
      cluster: api
      limits: { gcra: { key: "client_ip+header:x-client+route", rate: 1000000000/s, burst: 1000 } }
    - name: window
      match: { path_prefix: /window }
      cluster: api
      limits: { window: { key: client_ip, max: 1000000000000, per: 1s } }
    - { name: in_flight, match: { path_prefix: /in_flight }, cluster: api, limits: { in_flight: 1000 } }
"#;

fn admission(c: &mut Criterion) {
    use gateway::config::{parse, ConfigSource, LoadedConfig};
    use gateway::parts::{admit, KeyInput, Permits};
    use gateway::Generation;

    let config = parse(ADMISSION_CONFIG, "bench.yaml", &|_| None).expect("bench config");
    let loaded = LoadedConfig {
        config,
        source: ConfigSource::File("bench.yaml".into()),
    };
    let generation = Generation::build(loaded, None, 1).expect("bench generation");
    let mut headers = http::HeaderMap::new();
    headers.insert("x-client", http::HeaderValue::from_static("client-42"));
    let mut group = c.benchmark_group("admission");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for route in generation.routes.iter() {
        let input = KeyInput {
            client_ip: Some(std::net::Ipv4Addr::new(10, 1, 2, 3).into()),
            identity: None,
            headers: &headers,
            route: &route.name,
        };
        group.bench_function(route.name.as_str(), |b| {
            b.iter(|| {
                let mut permits = Permits::default();
                let admitted = admit(&route.limits, black_box(&input), &mut permits).is_ok();
                assert!(admitted);
                permits
            })
        });
    }
    group.finish();
}

criterion_group!(benches, gcra, admission);
criterion_main!(benches);
