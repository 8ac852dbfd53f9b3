//! Reading values out of Prometheus text exposition.

/// The value of the series `name{labels}`; `labels` is a list of
/// `key="value"` pairs that must all be present (others may be too).
/// Returns `None` when no series matches; sums all matching series.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, v) = match line.rsplit_once(' ') {
            Some(p) => p,
            None => continue,
        };
        let (series_name, series_labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if series_name != name {
            continue;
        }
        let all = labels
            .iter()
            .all(|(k, want)| series_labels.contains(&format!("{k}=\"{want}\"")));
        if all {
            if let Ok(v) = v.parse::<f64>() {
                *total.get_or_insert(0.0) += v;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_and_sums_series() {
        let text = "# HELP x\nreq_total{route=\"a\",status=\"200\"} 3\nreq_total{route=\"a\",status=\"502\"} 1\nreq_total{route=\"b\",status=\"200\"} 5\n";
        assert_eq!(
            super::value(text, "req_total", &[("route", "a")]),
            Some(4.0)
        );
        assert_eq!(
            super::value(text, "req_total", &[("status", "200")]),
            Some(8.0)
        );
        assert_eq!(super::value(text, "req_total", &[("route", "c")]), None);
    }
}
