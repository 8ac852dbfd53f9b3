//! GCRA properties on virtual time: the admission bound per key, requests at
//! the configured pace never refused, identical decisions to a plain
//! single-threaded reference, and the bound under concurrent checks of one
//! key. Case counts: `PROPTEST_CASES` overrides the per-property defaults.

use gateway::parts::{Clock, Decision, FakeClock, GcraLimiter, GcraPolicy, ShardedStore};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The simplest GCRA ("virtual scheduling"), written independently of the
/// limiter: a map from key to TAT, `remaining` found by trying.
struct Reference {
    interval: u64,
    tolerance: u64,
    tat: HashMap<u8, u64>,
}

impl Reference {
    fn new(policy: &GcraPolicy) -> Self {
        Reference {
            interval: policy.interval_nanos(),
            tolerance: policy.tolerance_nanos(),
            tat: HashMap::new(),
        }
    }

    fn conforms(&self, tat: u64, now: u64) -> bool {
        now + self.tolerance >= tat
    }

    fn check(&mut self, key: u8, now: u64) -> Decision {
        let tat = self.tat.get(&key).copied().unwrap_or(now).max(now);
        if !self.conforms(tat, now) {
            return Decision {
                allowed: false,
                remaining: 0,
                retry_after: Duration::from_nanos(tat - self.tolerance - now),
                reset_after: Duration::from_nanos(tat - now),
            };
        }
        let next = tat + self.interval;
        self.tat.insert(key, next);
        let mut remaining = 0;
        let mut probe = next;
        while self.conforms(probe, now) {
            remaining += 1;
            probe += self.interval;
        }
        Decision {
            allowed: true,
            remaining,
            retry_after: Duration::ZERO,
            reset_after: Duration::from_nanos(next - now),
        }
    }
}

/// Rates from 1 per hour to 1000 per second, bursts of 1 to 50.
fn policy() -> impl Strategy<Value = GcraPolicy> {
    (
        1u64..=1000,
        prop_oneof![
            Just(Duration::from_secs(1)),
            Just(Duration::from_secs(60)),
            Just(Duration::from_secs(3600)),
            Just(Duration::from_millis(7)),
        ],
        1u64..=50,
    )
        .prop_map(|(count, period, burst)| {
            GcraPolicy::new(count, period, burst).expect("generated policy is valid")
        })
}

/// Gaps between requests as fractions of T (in 1/8ths): bursts, crowding and idle spells.
fn gaps(len: usize) -> impl Strategy<Value = Vec<(u64, u8)>> {
    prop::collection::vec(
        (
            prop_oneof![3 => Just(0u64), 4 => 0u64..8, 2 => 8u64..24, 1 => 24u64..400],
            0u8..3,
        ),
        1..len,
    )
}

fn limiter<'c>(
    clock: &'c FakeClock,
    policy: &GcraPolicy,
) -> GcraLimiter<&'c FakeClock, ShardedStore> {
    GcraLimiter::new(*policy, clock, ShardedStore::new(1024))
}

/// Largest number of admissions within any window of length `t`, checked
/// against `burst + floor(t / T)` for every pair of admissions.
fn assert_bound(admitted: &[u64], policy: &GcraPolicy) -> Result<(), TestCaseError> {
    for (i, first) in admitted.iter().enumerate() {
        for (j, last) in admitted.iter().enumerate().skip(i) {
            let count = (j - i + 1) as u64;
            let bound = policy.burst() + (last - first) / policy.interval_nanos();
            prop_assert!(
                count <= bound,
                "{count} admitted in {} ns, bound {bound}",
                last - first
            );
        }
    }
    Ok(())
}

/// `cases` per property; failures persist beside this file, in
/// `gcra_properties.proptest-regressions`. Proptest's default
/// (`SourceParallel`) would look in `tests/proptest-regressions/` instead,
/// because this directory holds the test binary's `main.rs`.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::with_cases(cases)
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn never_more_than_burst_plus_rate_times_window(p in policy(), events in gaps(300)) {
        let clock = FakeClock::at(1_000_000_000);
        let limiter = limiter(&clock, &p);
        let mut admitted: HashMap<u8, Vec<u64>> = HashMap::new();
        for (eighths, key) in events {
            clock.advance_nanos(p.interval_nanos() / 8 * eighths);
            if limiter.check(&[key]).allowed {
                admitted.entry(key).or_default().push(clock.now_nanos());
            }
        }
        for times in admitted.values() {
            assert_bound(times, &p)?;
        }
    }

    #[test]
    fn requests_spaced_at_least_t_are_all_admitted(
        p in policy(),
        extra in prop::collection::vec(0u64..1_000_000, 1..200),
    ) {
        let clock = FakeClock::at(1);
        let limiter = limiter(&clock, &p);
        for (i, extra) in extra.into_iter().enumerate() {
            let decision = limiter.check(b"paced");
            prop_assert!(decision.allowed, "request {i} refused: {decision:?}");
            clock.advance_nanos(p.interval_nanos() + extra);
        }
    }

    #[test]
    fn same_decisions_as_the_reference(p in policy(), events in gaps(300)) {
        let clock = FakeClock::at(1_000_000_000);
        let limiter = limiter(&clock, &p);
        let mut reference = Reference::new(&p);
        for (n, (eighths, key)) in events.into_iter().enumerate() {
            clock.advance_nanos(p.interval_nanos() / 8 * eighths);
            let expected = reference.check(key, clock.now_nanos());
            prop_assert_eq!(limiter.check(&[key]), expected, "request {} of key {}", n, key);
        }
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn threads_on_one_key_stay_within_the_bound(
        p in policy(),
        threads in 2usize..=4,
        per_thread in 50u64..400,
        step_eighths in 0u64..16,
    ) {
        let clock = FakeClock::at(1_000_000_000);
        let limiter = limiter(&clock, &p);
        let admitted = AtomicU64::new(0);
        let start = clock.now_nanos();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for i in 0..per_thread {
                        if limiter.check(b"shared").allowed {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                        if i % 8 == 0 {
                            clock.advance_nanos(p.interval_nanos() / 8 * step_eighths);
                        }
                    }
                });
            }
        });
        let elapsed = clock.now_nanos() - start;
        let admitted = admitted.load(Ordering::Relaxed);
        let bound = p.burst() + elapsed / p.interval_nanos();
        prop_assert!(admitted <= bound, "{admitted} admitted, bound {bound}");
        if step_eighths == 0 {
            // Frozen time: exactly one burst, however the threads interleave.
            prop_assert_eq!(admitted, p.burst().min(threads as u64 * per_thread));
        }
    }
}
