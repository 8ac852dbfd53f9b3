//! Malformed scenario files are refused with the file, the step and the
//! field that is wrong.

use harness::scenario::load;

const HEAD: &str = "upstreams:\n  blue: { behaviour: fixed }\ngateway: { config: fixtures/scenarios/two-colors.yaml }\n";

/// Writes `NAME.yaml` with `body` and returns the load error message.
fn error_for(name: &str, body: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&path, format!("name: {name}\n{HEAD}{body}")).unwrap();
    match load(&path) {
        Ok(_) => panic!("accepted:\n{body}"),
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.starts_with(&path.display().to_string()),
                "the file is named: {text}"
            );
            text
        }
    }
}

#[test]
fn a_valid_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.yaml");
    std::fs::write(
        &path,
        format!("name: ok\n{HEAD}steps:\n  - traffic: {{ requests: 1 }}\n"),
    )
    .unwrap();
    let scenario = load(&path).unwrap();
    assert_eq!(scenario.steps.len(), 1);
}

#[test]
fn malformed_files_name_the_step_and_field() {
    let cases = [
        (
            "steps:\n  - traffic: { requests: 1 }\n  - traffic: { requests: 1, expect: { statuss: {} } }\n",
            "steps[1].traffic.expect.statuss: unknown field `statuss`",
        ),
        (
            "steps:\n  - { sleep: 1s, traffic: { requests: 1 } }\n",
            "steps[0]: a step has exactly one kind; found `sleep` and `traffic`",
        ),
        (
            "steps:\n  - traffic: { requests: 1 }\n    upstream: { name: blue, set: down }\n",
            "steps[0]: a step has exactly one kind; found `traffic` and `upstream`",
        ),
        ("steps:\n  - {}\n", "steps[0]: an empty step; a step is one of traffic,"),
        ("steps:\n  - upstream: { name: red, set: down }\n", "steps[0].upstream.name: unknown upstream `red`"),
        (
            "steps:\n  - wait_until: { upstream: blue, within: soon }\n",
            "steps[0].wait_until.within: `soon` is not a duration",
        ),
        ("steps:\n  - traffic: { concurrency: 2 }\n", "steps[0].traffic.requests: a traffic step needs a request count"),
        ("steps:\n  - upstream: { name: blue, set: sideways }\n", "steps[0].upstream.set: unknown variant `sideways`"),
        (
            "steps:\n  - dance: {}\n",
            "steps[0]: unknown step kind `dance`; a step is one of traffic, background_traffic,",
        ),
        ("steps:\n  - sleep: soon\n", "steps[0].sleep: `soon` is not a duration"),
        (
            "steps:\n  - wait_until: { within: 1s }\n",
            "steps[0].wait_until: wait for exactly one of `metric`, `upstream` or `background`",
        ),
        (
            "steps:\n  - websocket: { messages: 0 }\n",
            "steps[0].websocket.messages: expected at least one message",
        ),
        (
            "steps:\n  - websocket: { messages: 10, expect: { echoed: true } }\n",
            "steps[0].websocket.expect.echoed: unknown field `echoed`",
        ),
        (
            "steps:\n  - join: { expect: { upstream_hits: { blue: 1 } } }\n",
            "steps[0].join.expect.upstream_hits: mock hits cannot be attributed",
        ),
    ];
    for (body, expected) in cases {
        let message = error_for("bad", body);
        assert!(
            message.contains(expected),
            "expected `{expected}` in: {message}"
        );
    }
}

#[test]
fn the_name_must_match_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.yaml");
    std::fs::write(&path, format!("name: two\n{HEAD}steps: []\n")).unwrap();
    let message = load(&path).unwrap_err().to_string();
    assert!(
        message.contains("name: `two` must match the file name `one`"),
        "{message}"
    );
}
