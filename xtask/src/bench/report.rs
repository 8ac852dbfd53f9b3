//! Summaries, the table, `latest.json`, ratios and the baseline check.

use super::idle::IdleResult;
use super::wrk::WrkResult;
use serde_json::{json, Map, Value};

/// One target's rounds.
#[derive(Default, Clone)]
pub(super) struct Samples {
    pub rounds: Vec<WrkResult>,
    pub cpu_us_per_req: Vec<f64>,
    pub rss_kib: u64,
    pub idle: Option<IdleResult>,
}

/// Median of the values (mean of the middle two for an even count).
pub(super) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        })
}

impl Samples {
    fn field(&self, f: impl Fn(&WrkResult) -> f64) -> Vec<f64> {
        self.rounds.iter().map(f).collect()
    }
    pub(super) fn rps(&self) -> f64 {
        median(&self.field(|r| r.rps))
    }
    pub(super) fn p50(&self) -> f64 {
        median(&self.field(|r| r.p50_ms))
    }
    pub(super) fn p99(&self) -> f64 {
        median(&self.field(|r| r.p99_ms))
    }
    pub(super) fn cpu(&self) -> f64 {
        median(&self.cpu_us_per_req)
    }
}

/// Ratio names, how each is computed, and whether higher is better.
/// Throughput ratios compare median req/s; the CPU ratio compares median
/// CPU per request (higher is worse).
pub(super) const RATIOS: [(&str, &str, &str, bool); 9] = [
    ("gateway/direct", "gateway", "direct", true),
    ("gateway/nginx", "gateway", "nginx", true),
    ("gateway/haproxy", "gateway", "haproxy", true),
    ("gateway/pingora-bare", "gateway", "pingora-bare", true),
    (
        "gateway/gateway-sysalloc",
        "gateway",
        "gateway-sysalloc",
        true,
    ),
    ("gateway-full/gateway", "gateway-full", "gateway", true),
    ("cache-hit/gateway", "gateway-cache-hit", "gateway", true),
    ("cpu gateway/nginx", "gateway", "nginx", false),
    (
        "cpu gateway/gateway-sysalloc",
        "gateway",
        "gateway-sysalloc",
        false,
    ),
];

/// The ratios whose two targets were both measured.
pub(super) fn ratios(results: &[(&str, Samples)]) -> Vec<(&'static str, f64)> {
    let get = |name: &str| results.iter().find(|(n, _)| *n == name).map(|(_, s)| s);
    RATIOS
        .iter()
        .filter_map(|(label, a, b, higher_better)| {
            let (a, b) = (get(a)?, get(b)?);
            let value = if *higher_better {
                a.rps() / b.rps()
            } else {
                a.cpu() / b.cpu()
            };
            Some((*label, value))
        })
        .collect()
}

/// The ratios of a protocol set, named `PROTO RATIO` (`https gateway/nginx`,
/// `h2c cpu gateway/nginx`).
pub(super) fn set_ratios(proto: &str, results: &[(&str, Samples)]) -> Vec<(String, f64)> {
    ratios(results)
        .into_iter()
        .map(|(label, v)| (format!("{proto} {label}"), v))
        .collect()
}

/// The table printed at the end of a run.
pub(super) fn table(results: &[(&str, Samples)]) -> String {
    let mut out = format!(
        "{:<16} {:>9} {:>19} {:>8} {:>8} {:>10} {:>9}\n",
        "target", "req/s", "min-max", "p50 ms", "p99 ms", "CPU us/req", "RSS KiB"
    );
    for (name, s) in results {
        let (lo, hi) = min_max(&s.field(|r| r.rps));
        out.push_str(&format!(
            "{:<16} {:>9.0} {:>19} {:>8.3} {:>8.3} {:>10.1} {:>9}\n",
            name,
            s.rps(),
            format!("{lo:.0}-{hi:.0}"),
            s.p50(),
            s.p99(),
            s.cpu(),
            s.rss_kib
        ));
    }
    out
}

/// The idle-connection table.
pub(super) fn idle_table(results: &[(&str, Samples)]) -> Option<String> {
    let rows: Vec<_> = results
        .iter()
        .filter_map(|(n, s)| Some((n, s.idle.as_ref()?)))
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut out = format!(
        "{:<16} {:>6} {:>13} {:>22}\n",
        "target", "conns", "KiB per conn", "2nd wave growth KiB"
    );
    for (name, r) in rows {
        out.push_str(&format!(
            "{:<16} {:>6} {:>13.2} {:>22}\n",
            name, r.conns, r.kib_per_conn, r.second_wave_growth_kib
        ));
    }
    Some(out)
}

fn round3(v: f64) -> Value {
    if v.is_finite() {
        json!((v * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

/// The `latest.json` document.
pub(super) fn to_json(
    workers: usize,
    logs: &str,
    settings: Value,
    results: &[(&str, Samples)],
) -> Value {
    let ratios: Map<String, Value> = ratios(results)
        .into_iter()
        .map(|(k, v)| (k.to_string(), round3(v)))
        .collect();
    json!({
        "workers": workers,
        "logs": logs,
        "settings": settings,
        "targets": targets_json(results),
        "ratios": ratios,
    })
}

/// Adds a protocol set to a `latest.json` document: its targets under
/// `protocols.PROTO.targets` and its ratios, prefixed, beside the others.
pub(super) fn add_set(
    doc: &mut Value,
    proto: &str,
    description: &str,
    results: &[(&str, Samples)],
) {
    doc["protocols"][proto] = json!({
        "load": description,
        "targets": targets_json(results),
    });
    for (label, v) in set_ratios(proto, results) {
        doc["ratios"][label] = round3(v);
    }
}

fn targets_json(results: &[(&str, Samples)]) -> Value {
    let mut targets = Map::new();
    for (name, s) in results {
        let (lo, hi) = min_max(&s.field(|r| r.rps));
        let mut t = json!({
            "rps": round3(s.rps()),
            "rps_min": round3(lo),
            "rps_max": round3(hi),
            "p50_ms": round3(s.p50()),
            "p99_ms": round3(s.p99()),
            "cpu_us_per_req": round3(s.cpu()),
            "rss_kib": s.rss_kib,
        });
        if let Some(idle) = &s.idle {
            t["idle"] = json!({
                "conns": idle.conns,
                "kib_per_conn": round3(idle.kib_per_conn),
                "second_wave_growth_kib": idle.second_wave_growth_kib,
                "second_over_first_kib": idle.second_over_first_kib,
            });
        }
        targets.insert(name.to_string(), t);
    }
    Value::Object(targets)
}

/// Allowed worsening before `--check` fails.
pub(super) const TOLERANCE: f64 = 0.15;

/// Compares ratios with a baseline document; returns one line per ratio
/// and whether all are within [`TOLERANCE`]. Ratios missing on either
/// side are reported and skipped.
pub(super) fn check(current: &[(&str, f64)], baseline: &Value) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut ok = true;
    for (label, _, _, higher_better) in RATIOS {
        let base = baseline["ratios"][label].as_f64();
        let now = current.iter().find(|(l, _)| *l == label).map(|(_, v)| *v);
        match (base, now) {
            (Some(base), Some(now)) => {
                let worse = if higher_better {
                    now < base * (1.0 - TOLERANCE)
                } else {
                    now > base * (1.0 + TOLERANCE)
                };
                ok &= !worse;
                lines.push(format!(
                    "{} {label}: {now:.3} (baseline {base:.3}, {:+.1}%)",
                    if worse { "FAIL" } else { "ok  " },
                    (now / base - 1.0) * 100.0
                ));
            }
            _ => lines.push(format!("skip {label}: not measured in both runs")),
        }
    }
    (lines, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(rps: &[f64], cpu: &[f64]) -> Samples {
        Samples {
            rounds: rps
                .iter()
                .map(|r| WrkResult {
                    rps: *r,
                    requests: 0,
                    p50_ms: 0.1,
                    p99_ms: 1.0,
                    non_2xx: 0,
                    socket_errors: 0,
                })
                .collect(),
            cpu_us_per_req: cpu.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn ratios_use_medians_and_skip_missing_targets() {
        let results = vec![
            ("direct", samples(&[100.0, 90.0, 110.0], &[10.0])),
            ("gateway", samples(&[50.0, 40.0, 60.0], &[30.0])),
            ("nginx", samples(&[80.0], &[15.0])),
        ];
        let r = ratios(&results);
        assert_eq!(
            r,
            vec![
                ("gateway/direct", 0.5),
                ("gateway/nginx", 0.625),
                ("cpu gateway/nginx", 2.0)
            ]
        );
    }

    #[test]
    fn protocol_sets_add_prefixed_ratios_and_their_targets() {
        let http1 = vec![("gateway", samples(&[50.0], &[30.0]))];
        let mut doc = to_json(1, "on", json!({}), &http1);
        let https = vec![
            ("direct", samples(&[200.0], &[10.0])),
            ("gateway", samples(&[100.0], &[40.0])),
            ("nginx", samples(&[125.0], &[20.0])),
        ];
        add_set(&mut doc, "https", "wrk over https", &https);
        assert_eq!(doc["ratios"]["https gateway/direct"], json!(0.5));
        assert_eq!(doc["ratios"]["https gateway/nginx"], json!(0.8));
        assert_eq!(doc["ratios"]["https cpu gateway/nginx"], json!(2.0));
        assert_eq!(
            doc["protocols"]["https"]["targets"]["nginx"]["rps"],
            json!(125.0)
        );
        assert_eq!(doc["targets"]["gateway"]["rps"], json!(50.0));
        assert!(doc["ratios"].get("gateway/direct").is_none());
    }

    #[test]
    fn check_fails_only_beyond_tolerance_in_the_worse_direction() {
        let baseline = json!({"ratios": {"gateway/nginx": 0.6, "cpu gateway/nginx": 2.0}});
        let (_, ok) = check(
            &[("gateway/nginx", 0.52), ("cpu gateway/nginx", 2.25)],
            &baseline,
        );
        assert!(
            ok,
            "13% lower throughput ratio and 12.5% more CPU are within 15%"
        );
        let (lines, ok) = check(
            &[("gateway/nginx", 0.50), ("cpu gateway/nginx", 1.0)],
            &baseline,
        );
        assert!(!ok);
        assert!(lines[1].starts_with("FAIL gateway/nginx"), "{lines:?}");
        let (lines, ok) = check(
            &[("gateway/nginx", 0.9), ("cpu gateway/nginx", 2.5)],
            &baseline,
        );
        assert!(!ok);
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("FAIL cpu gateway/nginx")),
            "{lines:?}"
        );
    }
}
