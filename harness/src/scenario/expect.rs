//! What a batch of responses must show (`expect:` of `traffic` and
//! `join`), and checking a batch against it.

use super::values::RequestRate;
use crate::traffic::Summary;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Checks on a batch of responses. Every given field must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Exact counts of complete responses by status; any status not listed
    /// must not occur, and no request may fail without a status unless
    /// `failures` says so.
    #[serde(default)]
    pub status: Option<BTreeMap<u16, usize>>,
    /// Exact counts of failures without a complete response (`refused`,
    /// `timeout`, `body`, `transport`).
    #[serde(default)]
    pub failures: Option<BTreeMap<String, usize>>,
    /// Every request got a complete 2xx response (none refused, reset,
    /// timed out or cut short).
    #[serde(default)]
    pub all_ok: bool,
    /// Complete 2xx responses, exactly.
    #[serde(default)]
    pub successes: Option<usize>,
    /// At least this many complete 2xx responses.
    #[serde(default)]
    pub successes_at_least: Option<usize>,
    /// At most this many complete 2xx responses: a number, or
    /// `{ rate, burst }` for `burst + ⌊rate · t⌋`, `t` being the batch's
    /// elapsed time as the driver measured it (a GCRA limit's bound).
    #[serde(default)]
    pub successes_at_most: Option<SuccessBound>,
    /// Every complete response with one of these statuses carries each of
    /// the listed headers (`{ 429: [retry-after, ratelimit] }`).
    #[serde(default)]
    pub status_headers: BTreeMap<u16, Vec<String>>,
    /// Complete 2xx responses by `x-upstream`, exactly, for each listed name.
    #[serde(default)]
    pub served_by: BTreeMap<String, usize>,
    /// Requests each mock counted during the step, exactly.
    #[serde(default)]
    pub upstream_hits: BTreeMap<String, u64>,
    /// Exact counts of complete responses per value of a header
    /// (`(absent)` for responses without it); a value not listed must not
    /// occur.
    #[serde(default)]
    pub header_counts: BTreeMap<String, BTreeMap<String, usize>>,
    /// Every complete 2xx body contains this.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// No complete 2xx body contains this.
    #[serde(default)]
    pub body_excludes: Option<String>,
    /// Every complete 2xx response has these headers with these values.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Every complete response came over TLS with a server certificate of
    /// this common name.
    #[serde(default)]
    pub server_cert_cn: Option<String>,
    /// Every complete response has this HTTP version (`HTTP/1.1`, `HTTP/2`).
    #[serde(default)]
    pub http_version: Option<String>,
    /// Responses whose head arrived but whose body broke off (the client
    /// saw an incomplete message), exactly.
    #[serde(default)]
    pub incomplete: Option<usize>,
    /// Exchanges the server ended abnormally after it got the request,
    /// exactly: an incomplete body, or a reset stream (with HTTP/2 the reset
    /// may overtake the head).
    #[serde(default)]
    pub cut_short: Option<usize>,
    /// Every response that came from a mock (carries `x-upstream`),
    /// complete or not, has a body that is a prefix of that mock's
    /// configured body: nothing the gateway added, nothing else.
    #[serde(default)]
    pub body_prefix_only: bool,
}

/// An upper bound on successes: a count, or a rate limit's bound over the
/// batch's measured time.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SuccessBound {
    /// At most this many.
    Count(usize),
    /// At most `burst + ⌊rate · t⌋`.
    Rate(RateBound),
}

/// `{ rate, burst }` of [`SuccessBound::Rate`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateBound {
    /// The limit's sustained rate.
    pub rate: RequestRate,
    /// The limit's burst.
    pub burst: usize,
}

impl SuccessBound {
    /// The bound for a batch that took `elapsed`.
    pub fn limit(&self, elapsed: Duration) -> usize {
        match self {
            SuccessBound::Count(n) => *n,
            SuccessBound::Rate(b) => {
                b.burst + (b.rate.per_second * elapsed.as_secs_f64()).floor() as usize
            }
        }
    }
}

/// Every way `summary` (and the mock hit deltas) break `expect`. `bodies`
/// holds the body each mock sends, where it has one fixed body.
pub(super) fn problems(
    expect: &Expect,
    summary: &Summary,
    hit_deltas: &BTreeMap<String, u64>,
    bodies: &BTreeMap<String, Option<Vec<u8>>>,
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
    if let Some(bound) = &expect.successes_at_most {
        let max = bound.limit(summary.elapsed);
        if successes > max {
            out.push(format!(
                "complete 2xx responses: expected at most {max} (in {:.3}s), got {successes}",
                summary.elapsed.as_secs_f64()
            ));
        }
    }
    for (status, names) in &expect.status_headers {
        for name in names {
            let lacking = summary
                .records
                .iter()
                .filter(|r| r.status == Some(*status) && r.header(name).is_none())
                .count();
            if lacking > 0 {
                out.push(format!("{lacking} {status} responses lack `{name}`"));
            }
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
    for (name, want) in &expect.header_counts {
        let got = summary.header_counts(name);
        if &got != want {
            out.push(format!(
                "responses by `{name}`: expected {want:?}, got {got:?}"
            ));
        }
    }
    if let Some(needle) = &expect.body_contains {
        let bad = summary
            .records
            .iter()
            .filter(|r| {
                matches!(r.status, Some(200..=299)) && !r.body_text().contains(needle.as_str())
            })
            .count();
        if bad > 0 {
            out.push(format!("{bad} successful bodies lack `{needle}`"));
        }
    }
    if let Some(needle) = &expect.body_excludes {
        let bad = summary
            .records
            .iter()
            .filter(|r| {
                matches!(r.status, Some(200..=299)) && r.body_text().contains(needle.as_str())
            })
            .count();
        if bad > 0 {
            out.push(format!("{bad} successful bodies contain `{needle}`"));
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
    let complete = || summary.records.iter().filter(|r| r.status.is_some());
    if let Some(want) = &expect.server_cert_cn {
        let mut got: BTreeMap<&str, usize> = BTreeMap::new();
        for r in complete().filter(|r| r.server_cert_cn.as_deref() != Some(want.as_str())) {
            *got.entry(r.server_cert_cn.as_deref().unwrap_or("(none)"))
                .or_insert(0) += 1;
        }
        if !got.is_empty() {
            out.push(format!(
                "server certificate CN: expected `{want}` on every response, got {got:?} on some"
            ));
        }
    }
    if let Some(want) = &expect.http_version {
        let mut got: BTreeMap<&str, usize> = BTreeMap::new();
        for r in complete().filter(|r| r.version.as_deref() != Some(want.as_str())) {
            *got.entry(r.version.as_deref().unwrap_or("(none)"))
                .or_insert(0) += 1;
        }
        if !got.is_empty() {
            out.push(format!(
                "HTTP version: expected `{want}` on every response, got {got:?} on some"
            ));
        }
    }
    if let Some(want) = expect.incomplete {
        let got = summary.incomplete();
        if got != want {
            out.push(format!(
                "incomplete responses (head received, body cut short): expected {want}, got {got}"
            ));
        }
    }
    if let Some(want) = expect.cut_short {
        let got = summary.cut_short();
        if got != want {
            out.push(format!(
                "exchanges cut short (incomplete body or reset stream): expected {want}, got {got}"
            ));
        }
    }
    if expect.body_prefix_only {
        out.extend(prefix_problems(summary, bodies));
    }
    out
}

/// Responses from a mock whose body is not a prefix of what the mock sent:
/// a count per kind of problem, with one example each.
fn prefix_problems(summary: &Summary, bodies: &BTreeMap<String, Option<Vec<u8>>>) -> Vec<String> {
    let mut found: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for r in &summary.records {
        let Some(name) = &r.upstream else { continue };
        let problem = match bodies.get(name) {
            None => Some((
                format!("responses tagged by unknown upstream `{name}`"),
                String::new(),
            )),
            Some(None) => Some((
                format!("responses from `{name}`, which has no fixed body to compare with"),
                String::new(),
            )),
            Some(Some(sent)) if !sent.starts_with(&r.body) => Some((
                format!(
                    "bodies from `{name}` are not a prefix of what it sent ({:?})",
                    String::from_utf8_lossy(sent)
                ),
                format!(
                    "status {}, body {:?}",
                    r.status.or(r.broken_status).unwrap_or(0),
                    r.body_text()
                ),
            )),
            Some(Some(_)) => None,
        };
        if let Some((what, example)) = problem {
            let entry = found.entry(what).or_insert((0, example));
            entry.0 += 1;
        }
    }
    found
        .into_iter()
        .map(|(what, (n, example))| {
            if example.is_empty() {
                format!("{n} {what}")
            } else {
                format!("{n} {what}; e.g. {example}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::{Failure, Record};

    fn broken(body: &str) -> Record {
        Record {
            status: None,
            broken_status: Some(200),
            upstream: Some("liar".into()),
            headers: Vec::new(),
            failure: Some(Failure::Body),
            connected: true,
            error: None,
            server_cert_cn: None,
            version: None,
            body: body.as_bytes().to_vec(),
            latency: Duration::ZERO,
        }
    }

    #[test]
    fn a_body_with_bytes_appended_is_not_a_prefix() {
        let expect = Expect {
            incomplete: Some(2),
            body_prefix_only: true,
            ..Expect::default()
        };
        let bodies = BTreeMap::from([("liar".to_string(), Some(b"short-body".to_vec()))]);
        let clean = Summary {
            records: vec![broken("short"), broken("")],
            ..Summary::default()
        };
        assert_eq!(
            problems(&expect, &clean, &BTreeMap::new(), &bodies),
            Vec::<String>::new()
        );
        let appended = Summary {
            records: vec![broken("short-body{\"error\":1}"), broken("short")],
            ..Summary::default()
        };
        let found = problems(&expect, &appended, &BTreeMap::new(), &bodies);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("1 bodies from `liar` are not a prefix"),
            "{found:?}"
        );
    }

    fn ok_with(cache_status: Option<&str>) -> Record {
        Record {
            status: Some(200),
            broken_status: None,
            upstream: None,
            headers: cache_status
                .map(|v| vec![("cache-status".to_string(), v.to_string())])
                .unwrap_or_default(),
            failure: None,
            connected: true,
            error: None,
            server_cert_cn: None,
            version: None,
            body: Vec::new(),
            latency: Duration::ZERO,
        }
    }

    fn with_status(status: u16, headers: &[&str]) -> Record {
        Record {
            status: Some(status),
            headers: headers
                .iter()
                .map(|h| (h.to_string(), "1".to_string()))
                .collect(),
            ..ok_with(None)
        }
    }

    #[test]
    fn a_rate_bound_grows_with_the_measured_time() {
        let expect: Expect =
            serde_yaml::from_str("successes_at_most: { rate: 10/s, burst: 5 }").unwrap();
        let mut summary = Summary {
            records: (0..20).map(|_| with_status(200, &[])).collect(),
            elapsed: Duration::from_millis(1500),
        };
        let (hits, bodies) = (BTreeMap::new(), BTreeMap::new());
        // 5 + ⌊10 · 1.5⌋ = 20.
        assert!(problems(&expect, &summary, &hits, &bodies).is_empty());
        summary.elapsed = Duration::from_millis(1450);
        let found = problems(&expect, &summary, &hits, &bodies);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("at most 19"), "{found:?}");
        let count: Expect = serde_yaml::from_str("successes_at_most: 19").unwrap();
        assert_eq!(problems(&count, &summary, &hits, &bodies).len(), 1);
    }

    #[test]
    fn every_response_of_a_listed_status_needs_each_header() {
        let expect: Expect =
            serde_yaml::from_str("status_headers: { 429: [retry-after, ratelimit] }").unwrap();
        let summary = Summary {
            records: vec![
                with_status(429, &["retry-after", "ratelimit"]),
                with_status(429, &["retry-after"]),
                with_status(200, &[]),
            ],
            ..Summary::default()
        };
        let found = problems(&expect, &summary, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(found, vec!["1 429 responses lack `ratelimit`".to_string()]);
    }

    #[test]
    fn header_counts_are_exact_and_count_absent_values() {
        let summary = Summary {
            records: vec![
                ok_with(Some("gateway; hit")),
                ok_with(Some("gateway; hit")),
                ok_with(None),
            ],
            ..Summary::default()
        };
        let expect = |counts: &[(&str, usize)]| Expect {
            header_counts: BTreeMap::from([(
                "cache-status".to_string(),
                counts.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            )]),
            ..Expect::default()
        };
        let (hits, bodies) = (BTreeMap::new(), BTreeMap::new());
        let exact = expect(&[("gateway; hit", 2), ("(absent)", 1)]);
        assert_eq!(
            problems(&exact, &summary, &hits, &bodies),
            Vec::<String>::new()
        );
        // An unlisted value (here the absent header) is a problem too.
        let partial = expect(&[("gateway; hit", 2)]);
        let found = problems(&partial, &summary, &hits, &bodies);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("(absent)"), "{found:?}");
    }
}
