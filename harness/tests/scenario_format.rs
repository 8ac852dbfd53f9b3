//! Malformed scenario files are refused with the file, the step and the
//! field that is wrong.

// Test helpers beside the #[test] functions unwrap too (clippy.toml covers
// only the test functions themselves).
#![allow(clippy::unwrap_used)]

use harness::scenario::{load, BehaviourSpec, Step};

const HEAD: &str = "upstreams:\n  blue: { behaviour: fixed }\ngateway: { config: fixtures/scenarios/two-colors.yaml }\n";

/// Writes `NAME.yaml` with `body` and returns the load error message.
fn error_for(name: &str, body: &str) -> String {
    error_in(name, &format!("{HEAD}{body}"))
}

/// Writes `NAME.yaml` with `text` after its `name:` line and returns the
/// load error message, which must start with the file's path.
fn error_in(name: &str, text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&path, format!("name: {name}\n{text}")).unwrap();
    match load(&path) {
        Ok(_) => panic!("accepted:\n{text}"),
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

/// A scenario whose one mock is `blue: SPEC`.
fn with_upstream(spec: &str) -> String {
    format!("upstreams:\n  blue: {spec}\ngateway: {{ config: fixtures/scenarios/two-colors.yaml }}\nsteps: []\n")
}

/// A scenario whose one step is `- upstream: { name: blue, behaviour: SPEC }`.
fn with_step_behaviour(spec: &str) -> String {
    format!("{HEAD}steps:\n  - upstream: {{ name: blue, behaviour: {spec} }}\n")
}

/// Loads each `(text, expected)` case and lists every case that loaded or
/// whose error lacks `expected`; all are reported together.
fn refused_with(cases: &[(String, &str)]) {
    let mut wrong = Vec::new();
    for (i, (text, expected)) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("case{i}.yaml"));
        std::fs::write(&path, format!("name: case{i}\n{text}")).unwrap();
        match load(&path) {
            Ok(_) => wrong.push(format!("case {i} loaded:\n{text}")),
            Err(e) if !e.to_string().contains(expected) => {
                wrong.push(format!("case {i}: expected `{expected}` in: {e}"))
            }
            Err(e) => assert!(e.to_string().starts_with(&path.display().to_string())),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn a_key_of_another_behaviour_is_refused_at_load() {
    refused_with(&[
        (
            with_upstream("{ behaviour: fixed, chunks: 2 }"),
            "upstreams.blue: behaviour `fixed`: unknown field `chunks`, expected one of `status`, `body`, `headers`",
        ),
        (
            with_upstream("{ behaviour: cacheable, body: b }"),
            "upstreams.blue: behaviour `cacheable`: unknown field `body`",
        ),
        (
            with_upstream("{ behaviour: echo, declared_length: 5 }"),
            "upstreams.blue: behaviour `echo`: unknown field `declared_length`, there are no fields",
        ),
        (
            with_step_behaviour("{ behaviour: reset_body, chunks: 2 }"),
            "steps[0].upstream.behaviour: behaviour `reset_body`: unknown field `chunks`",
        ),
        // `down` and `unix` say how a mock starts: a step that changes its
        // behaviour cannot set them.
        (
            with_step_behaviour("{ behaviour: fixed, unix: true }"),
            "steps[0].upstream.behaviour: behaviour `fixed`: unknown field `unix`",
        ),
    ]);
}

#[test]
fn a_missing_required_key_of_a_behaviour_is_refused_at_load() {
    refused_with(&[
        (
            with_upstream("{ behaviour: slow, body: b }"),
            "upstreams.blue: behaviour `slow`: missing field `delay`",
        ),
        (
            with_step_behaviour("{ behaviour: stall_body }"),
            "steps[0].upstream.behaviour: behaviour `stall_body`: missing field `delay`",
        ),
    ]);
}

#[test]
fn an_unknown_or_missing_behaviour_is_refused_at_load() {
    refused_with(&[
        (
            with_upstream("{ behaviour: dance }"),
            "upstreams.blue.behaviour: unknown behaviour `dance`; a behaviour is one of fixed, echo, slow,",
        ),
        (
            with_step_behaviour("{ behaviour: dance }"),
            "steps[0].upstream.behaviour.behaviour: unknown behaviour `dance`; a behaviour is one of fixed,",
        ),
        (
            with_upstream("{ body: b }"),
            "upstreams.blue: no `behaviour`; a behaviour is one of fixed,",
        ),
    ]);
}

#[test]
fn every_behaviour_key_in_its_place_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.yaml");
    let text = "name: keys
upstreams:
  a: { behaviour: fixed, status: 201, body: 42, headers: { x-a: 1 }, down: true }
  b: { behaviour: echo, unix: true }
  c: { behaviour: slow, delay: 1s, status: 202, body: c, headers: { x-c: c } }
  d: { behaviour: stall_body, body: d, declared_length: 10, delay: 1s }
  e: { behaviour: reset }
  f: { behaviour: reset_body, body: f, declared_length: 10, headers: { x-f: f } }
  g: { behaviour: body_mismatch, body: g, declared_length: 10 }
  h: { behaviour: chunked_truncated, body: h, chunks: 2 }
  i: { behaviour: h2c, status: 200, body: i, headers: { x-i: i } }
  j: { behaviour: mtls, status: 200, body: j, headers: { x-j: j } }
  k: { behaviour: cacheable, cache_control: max-age=1, status: 200, headers: { vary: accept }, delay: 1s, hold: true }
  l: { behaviour: websocket }
  m: { behaviour: grpc }
gateway: { config: fixtures/scenarios/two-colors.yaml }
steps:
  - upstream: { name: a, behaviour: { behaviour: slow, delay: 2s, body: slower } }
";
    std::fs::write(&path, text).unwrap();
    let scenario = load(&path).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = scenario
        .upstreams
        .values()
        .map(|u| u.behaviour.name())
        .collect();
    assert_eq!(names, BehaviourSpec::ALL, "one mock of each behaviour");
    let a = &scenario.upstreams["a"];
    assert!(a.down && !a.unix && scenario.upstreams["b"].unix);
    // A bare number is text where a behaviour expects text.
    assert_eq!(a.behaviour.fixed_body("a"), Some(b"42".to_vec()));
    match &a.behaviour {
        BehaviourSpec::Fixed { headers, .. } => assert_eq!(headers["x-a"], "1"),
        other => panic!("{other:?}"),
    }
    match &scenario.steps[0] {
        Step::Upstream(step) => assert_eq!(step.behaviour.as_ref().map(|b| b.name()), Some("slow")),
        other => panic!("{other:?}"),
    }
}
