//! Normalised metric snapshots: counters and gauges only (no histograms,
//! durations or ports), sorted, with timing-dependent families reduced to
//! `0` / `>0`.

use std::collections::BTreeMap;

/// Gauges of live client state, labelled by listener address (an ephemeral
/// port) and valued by connection timing: left out unless a snapshot names
/// them.
const LIVE_GAUGES: &[&str] = &["gateway_downstream_connections"];

/// The config hash label of `gateway_config_info`: the effective config
/// holds the run's ephemeral ports and temporary paths, so the hash differs
/// on every run; the snapshot keeps the series with the hash masked.
const CONFIG_HASH_LABEL: &str = "hash=\"";

/// Normalises `/metrics` text plus mock hit counts into snapshot text.
pub fn normalise(
    metrics: &str,
    families: &[String],
    nonzero: &[String],
    upstream_hits: &BTreeMap<String, u64>,
) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let family = series.split('{').next().unwrap_or(series);
        let histogram = ["_bucket", "_sum", "_count"]
            .iter()
            .any(|s| family.ends_with(s))
            || family.contains("duration");
        let wanted = if families.is_empty() {
            family.starts_with("gateway_") && !LIVE_GAUGES.contains(&family)
        } else {
            families.iter().any(|f| f == family)
        };
        if histogram || !wanted {
            continue;
        }
        let value: f64 = value.parse().unwrap_or(f64::NAN);
        let shown = if nonzero.iter().any(|f| f == family) {
            if value > 0.0 {
                ">0".to_string()
            } else {
                "0".to_string()
            }
        } else if value.fract() == 0.0 {
            format!("{}", value as i64)
        } else {
            format!("{value}")
        };
        lines.push(format!("{} {shown}", mask_config_hash(series)));
    }
    for (name, hits) in upstream_hits {
        lines.push(format!("mock_upstream_hits{{upstream=\"{name}\"}} {hits}"));
    }
    lines.sort();
    lines.join("\n") + "\n"
}

/// The families among `families` with no series in the `/metrics` text.
pub(super) fn missing_families<'a>(
    metrics: &str,
    families: impl IntoIterator<Item = &'a String>,
) -> Vec<String> {
    let present: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let mut missing: Vec<String> = families
        .into_iter()
        .filter(|f| !present.contains(f.as_str()))
        .cloned()
        .collect();
    missing.dedup();
    missing
}

/// `gateway_config_info{generation="1",hash="d0a2…"}` with the hash value
/// replaced by `[hash]`; other series unchanged.
fn mask_config_hash(series: &str) -> String {
    let Some(start) = series
        .find(CONFIG_HASH_LABEL)
        .map(|i| i + CONFIG_HASH_LABEL.len())
    else {
        return series.to_string();
    };
    match series[start..].find('"') {
        Some(len) => format!("{}[hash]{}", &series[..start], &series[start + len..]),
        None => series.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_families_without_series() {
        let text =
            "# TYPE gateway_retries_total counter\ngateway_requests_total{route=\"a\"} 1\nup 1\n";
        let asked = ["gateway_requests_total", "up", "gateway_retries_total"].map(String::from);
        assert_eq!(
            missing_families(text, &asked),
            vec!["gateway_retries_total"]
        );
    }

    #[test]
    fn keeps_counters_drops_histograms_and_reduces_nonzero_families() {
        let text = "# HELP x\ngateway_requests_total{route=\"a\",status=\"200\"} 5\n\
                    gateway_request_duration_seconds_bucket{le=\"1\"} 5\n\
                    gateway_upstream_connections_total{reused=\"true\"} 17\n\
                    gateway_downstream_connections{listener=\"127.0.0.1:40123\"} 2\n\
                    process_cpu 3\n";
        let hits = BTreeMap::from([("blue".to_string(), 5)]);
        let out = normalise(
            text,
            &[],
            &["gateway_upstream_connections_total".to_string()],
            &hits,
        );
        assert_eq!(
            out,
            "gateway_requests_total{route=\"a\",status=\"200\"} 5\n\
             gateway_upstream_connections_total{reused=\"true\"} >0\n\
             mock_upstream_hits{upstream=\"blue\"} 5\n"
        );
    }

    #[test]
    fn the_config_hash_is_masked_and_other_labels_kept() {
        let text = "gateway_config_info{generation=\"2\",hash=\"d0a264bbf26c8d6a\"} 1\n\
                    gateway_config_reloads_total{result=\"success\"} 1\n";
        let out = normalise(text, &[], &[], &BTreeMap::new());
        assert_eq!(
            out,
            "gateway_config_info{generation=\"2\",hash=\"[hash]\"} 1\n\
             gateway_config_reloads_total{result=\"success\"} 1\n"
        );
    }
}
