//! `${VAR}` and `${VAR:-default}` substitution in string values.

use serde_yaml::Value;

/// Replaces environment references in every string of `value`, reporting the
/// key path of the first reference that cannot be resolved.
pub(super) fn substitute(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), (String, String)> {
    walk(value, String::new(), lookup)
}

fn walk(
    value: &mut Value,
    path: String,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), (String, String)> {
    match value {
        Value::String(s) if s.contains("${") => {
            *s = expand(s, lookup).map_err(|msg| (path, msg))?;
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, format!("{path}[{i}]"), lookup)?;
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = match key {
                    Value::String(k) => k.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                walk(item, child, lookup)?;
            }
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, path, lookup)?,
        _ => {}
    }
    Ok(())
}

/// Expands the references in one string.
pub(super) fn expand(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated `${{` in `{input}`"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        if !is_env_name(name) {
            return Err(format!(
                "`${{{inner}}}` is not an environment reference; expected `${{NAME}}` or `${{NAME:-default}}`"
            ));
        }
        // As in the shell, `:-` also replaces a variable that is set but empty.
        match (lookup(name), default) {
            (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(format!(
                    "environment variable `{name}` is not set (use `${{{name}:-default}}` for a fallback)"
                ))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("secret".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_set_and_defaulted_variables() {
        assert_eq!(expand("a ${KEY} b", &env).unwrap(), "a secret b");
        assert_eq!(expand("${NOPE:-x}", &env).unwrap(), "x");
        assert_eq!(expand("plain", &env).unwrap(), "plain");
        assert_eq!(expand("${EMPTY:-d}", &env).unwrap(), "d");
        assert_eq!(expand("[${EMPTY}]", &env).unwrap(), "[]");
    }

    #[test]
    fn reports_missing_and_malformed_references() {
        assert!(expand("${NOPE}", &env)
            .unwrap_err()
            .contains("`NOPE` is not set"));
        assert!(expand("${upstream.blue}", &env)
            .unwrap_err()
            .contains("not an environment reference"));
        assert!(expand("${KEY", &env).unwrap_err().contains("unterminated"));
    }
}
