//! Checking a batch of responses against an [`Expect`].

use super::model::Expect;
use crate::traffic::Summary;
use std::collections::BTreeMap;

/// Every way `summary` (and the mock hit deltas) break `expect`.
pub fn problems(
    expect: &Expect,
    summary: &Summary,
    hit_deltas: &BTreeMap<String, u64>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(want) = &expect.status {
        let got = summary.statuses();
        if &got != want {
            out.push(format!("statuses: expected {want:?}, got {got:?}"));
        }
        if expect.failures.is_none() && !summary.failures().is_empty() {
            out.push(format!(
                "failures: expected none, got {:?}",
                summary.failures()
            ));
        }
    }
    if let Some(want) = &expect.failures {
        let got: BTreeMap<String, usize> = summary
            .failures()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        if &got != want {
            out.push(format!("failures: expected {want:?}, got {got:?}"));
        }
    }
    let successes = summary.sent() - summary.unsuccessful();
    if expect.all_ok && summary.unsuccessful() > 0 {
        out.push(format!(
            "{} of {} requests did not get a complete 2xx response",
            summary.unsuccessful(),
            summary.sent()
        ));
    }
    if let Some(want) = expect.successes {
        if successes != want {
            out.push(format!(
                "complete 2xx responses: expected {want}, got {successes}"
            ));
        }
    }
    if let Some(min) = expect.successes_at_least {
        if successes < min {
            out.push(format!(
                "complete 2xx responses: expected at least {min}, got {successes}"
            ));
        }
    }
    let served = summary.served_by();
    for (name, want) in &expect.served_by {
        let got = served.get(name).copied().unwrap_or(0);
        if got != *want {
            out.push(format!(
                "served by {name}: expected {want}, got {got} (all: {served:?})"
            ));
        }
    }
    for (name, want) in &expect.upstream_hits {
        let got = hit_deltas.get(name).copied().unwrap_or(0);
        if got != *want {
            out.push(format!(
                "hits on upstream {name}: expected {want}, got {got}"
            ));
        }
    }
    if let Some(needle) = &expect.body_contains {
        let bad = summary
            .records
            .iter()
            .filter(|r| matches!(r.status, Some(200..=299)) && !r.body.contains(needle.as_str()))
            .count();
        if bad > 0 {
            out.push(format!("{bad} successful bodies lack `{needle}`"));
        }
    }
    for (name, value) in &expect.headers {
        let bad = summary
            .records
            .iter()
            .filter(|r| matches!(r.status, Some(200..=299)))
            .filter(|r| r.header(name) != Some(value.as_str()))
            .count();
        if bad > 0 {
            out.push(format!("{bad} successful responses lack `{name}: {value}`"));
        }
    }
    out
}
