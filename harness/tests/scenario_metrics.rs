//! A metric series that does not exist is an error, never a silent 0:
//! `assert_metric` and `snapshot` fail at once, `wait_until` polls and
//! reports at its deadline that the series never appeared.

use harness::scenario;

const HEAD: &str = "upstreams:\n  blue: { behaviour: fixed }\n  green: { behaviour: fixed }\ngateway: { config: fixtures/scenarios/two-colors.yaml }\nsteps:\n  - traffic: { requests: 4, expect: { status: { 200: 4 } } }\n";

/// Runs a scenario made of a small traffic step and `last`; returns the
/// failure message.
fn failure_of(name: &str, last: &str) -> String {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&path, format!("name: {name}\n{HEAD}{last}")).expect("writing the scenario");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(scenario::run(&path)) {
        Ok(_) => panic!("passed with a series that does not exist:\n{last}"),
        Err(e) => e,
    }
}

#[test]
fn a_missing_series_fails_assert_metric_snapshot_and_wait_until() {
    let assert = failure_of(
        "assert-missing",
        "  - assert_metric: { metric: 'gateway_requests_total{route=\"nowhere\"}', equals: 0 }\n",
    );
    assert!(
        assert.contains("no series matches `gateway_requests_total{route=\"nowhere\"}`"),
        "{assert}"
    );

    let snapshot = failure_of(
        "snapshot-missing",
        "  - snapshot: { metrics: [gateway_requests_total, gateway_no_such_total] }\n",
    );
    assert!(
        snapshot.contains("the gateway exports no series of gateway_no_such_total"),
        "{snapshot}"
    );

    let wait = failure_of(
        "wait-missing",
        "  - wait_until: { metric: 'gateway_no_such_total', equals: 0, within: 300ms }\n",
    );
    assert!(
        wait.contains("timed out after 300ms")
            && wait.contains("`gateway_no_such_total` never appeared"),
        "{wait}"
    );
}
