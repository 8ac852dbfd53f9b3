//! docs/SCENARIOS.md documents every step kind and every mock behaviour the
//! code knows, each as a row of its table (`` | `wait_until` | ``, the first
//! table under `### Steps` and under `### Upstreams`), and no name the code
//! does not know.

use harness::binary::workspace_root;
use harness::scenario::{BehaviourSpec, STEP_KINDS};

/// The text under `### {heading}`, up to the next heading.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc
        .find(&format!("\n### {heading}\n"))
        .unwrap_or_else(|| panic!("docs/SCENARIOS.md has no `### {heading}` section"));
    let body = &doc[start + heading.len() + 6..];
    let end = body.find("\n#").unwrap_or(body.len());
    &body[..end]
}

/// The names in code in the first column of a section's first table.
fn documented(section: &str) -> Vec<&str> {
    section
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| line.strip_prefix("| `")?.split_once('`'))
        .map(|(name, _)| name)
        .collect()
}

/// What differs between the names of a section's tables and `names`.
fn differences(doc: &str, heading: &str, what: &str, names: &[&str]) -> Vec<String> {
    let rows = documented(section(doc, heading));
    let mut out: Vec<String> = names
        .iter()
        .filter(|name| !rows.contains(name))
        .map(|name| format!("{what} `{name}` has no row under `### {heading}`"))
        .collect();
    out.extend(
        rows.iter()
            .filter(|row| !names.contains(row))
            .map(|row| format!("`### {heading}` has a row for `{row}`, which is no {what}")),
    );
    out
}

#[test]
fn the_reference_names_every_step_kind_and_behaviour() {
    let path = workspace_root().join("docs/SCENARIOS.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut problems = differences(&doc, "Steps", "step kind", STEP_KINDS);
    problems.extend(differences(
        &doc,
        "Upstreams",
        "behaviour",
        BehaviourSpec::ALL,
    ));
    assert!(
        problems.is_empty(),
        "docs/SCENARIOS.md is out of date:\n{}",
        problems.join("\n")
    );
}
