//! Metric selectors: `name{label="value",...}`.

/// Splits `name{a="b",c="d"}` into a name and label pairs.
pub(super) fn parse_selector(selector: &str) -> Result<(String, Vec<(String, String)>), String> {
    let bad = || format!("`{selector}` is not a metric selector like name{{label=\"value\"}}");
    let Some((name, rest)) = selector.split_once('{') else {
        return Ok((selector.trim().to_string(), Vec::new()));
    };
    let inner = rest.strip_suffix('}').ok_or_else(bad)?;
    let mut labels = Vec::new();
    for pair in inner.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(bad)?;
        let v = v
            .trim()
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(bad)?;
        labels.push((k.trim().to_string(), v.to_string()));
    }
    Ok((name.trim().to_string(), labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse() {
        let (name, labels) =
            parse_selector(r#"gateway_upstream_healthy{cluster="c", endpoint="blue"}"#).unwrap();
        assert_eq!(name, "gateway_upstream_healthy");
        assert_eq!(
            labels,
            vec![
                ("cluster".into(), "c".into()),
                ("endpoint".into(), "blue".into())
            ]
        );
        assert_eq!(parse_selector("up").unwrap(), ("up".into(), vec![]));
        assert!(parse_selector("x{a=b}").is_err());
    }
}
