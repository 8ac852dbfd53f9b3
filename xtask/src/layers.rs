//! `cargo xtask layers`: the gateway's source tree as a map that holds.
//!
//! Every top-level module of `gateway/src` is a stage of the request (or
//! the control plane, or a shared lower layer). [`GATEWAY_LAYERS`] lists
//! them from the top down; a module may import only modules listed below
//! it, so the stages form no import cycle. Inside each folder the files
//! must not import each other in a loop either. Imports are read from the
//! source text (`crate::x`, `super::x`), leaving out `#[cfg(test)]`
//! modules and comments, which is all this code base uses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The gateway's top-level modules, from the top layer down. Modules on
/// one line of the docs (`docs/ARCHITECTURE.md`) are listed in request
/// order where the dependencies allow it.
pub(crate) const GATEWAY_LAYERS: &[&str] = &[
    "server",
    "proxy",
    "control",
    "route",
    "edge",
    "admission",
    "cache",
    "upstream",
    "protocol",
    "response",
    "hygiene",
    "observe",
    "config",
];

/// The problems of the tree under `src`: imports that point up the layer
/// list, modules missing from the list, and file cycles inside a folder.
pub(crate) fn check(src: &Path, layers: &[&str]) -> Result<Vec<String>, String> {
    let files = rust_files(src)?;
    let mut problems = Vec::new();
    let rank = |m: &str| layers.iter().position(|l| *l == m);
    let mut modules = BTreeSet::new();
    let mut file_edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &files {
        let rel = relative(src, path);
        let top = top_module(&rel);
        if top == "lib" || top == "main" {
            continue;
        }
        modules.insert(top.clone());
        let text = std::fs::read_to_string(path).map_err(|e| format!("{rel}: {e}"))?;
        let code = strip_tests_and_comments(&text);
        for target in crate_imports(&code) {
            if target == top {
                continue;
            }
            match (rank(&top), rank(&target)) {
                (Some(from), Some(to)) if to <= from => problems.push(format!(
                    "{rel}: imports `crate::{target}`, which is not below `{top}` in the layers"
                )),
                _ => {}
            }
        }
        let siblings = sibling_imports(&rel, &code, &top);
        file_edges.entry(rel.clone()).or_default().extend(siblings);
    }
    for m in &modules {
        if rank(m).is_none() {
            problems.push(format!("module `{m}` is not in the layer list"));
        }
    }
    for cycle in file_cycles(&file_edges) {
        problems.push(format!("import cycle: {}", cycle.join(" -> ")));
    }
    Ok(problems)
}

fn rust_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            out.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// `cache/key.rs` -> `cache`, `proxy.rs` -> `proxy`.
fn top_module(rel: &str) -> String {
    let first = rel.split('/').next().unwrap_or(rel);
    first.trim_end_matches(".rs").to_string()
}

/// The file's text without `//` comments and without the
/// `#[cfg(test)] mod ... { ... }` blocks (or `#[cfg(test)] mod x;`).
fn strip_tests_and_comments(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            // Skip the item that follows: up to its closing brace at the
            // same indentation, or a one-line `mod x;`.
            let indent = line.len() - trimmed.len();
            for next in lines.by_ref() {
                let t = next.trim_start();
                let i = next.len() - t.len();
                if t.ends_with(';') && i == indent {
                    break;
                }
                if t == "}" && i == indent {
                    break;
                }
            }
            continue;
        }
        let code = line.split("//").next().unwrap_or(line);
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The lower-case identifiers that follow `prefix` in `code` where the
/// prefix starts a path (not preceded by an identifier or `::`).
fn names_after<'a>(code: &'a str, prefix: &'a str) -> impl Iterator<Item = String> + 'a {
    code.match_indices(prefix).filter_map(move |(at, _)| {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            return None;
        }
        let name: String = code[at + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let module = !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        module.then_some(name)
    })
}

/// Top-level modules named as `crate::NAME`.
fn crate_imports(code: &str) -> BTreeSet<String> {
    names_after(code, "crate::").collect()
}

/// Files of the same folder that `rel` imports, as paths relative to the
/// source root (`super::x` from `a/b.rs` is `a/x.rs` or `a/x/mod.rs`;
/// `crate::a::x` likewise).
fn sibling_imports(rel: &str, code: &str, top: &str) -> BTreeSet<String> {
    let dir = match rel.rsplit_once('/') {
        Some((dir, _)) => dir.to_string(),
        None => return BTreeSet::new(),
    };
    // `super` of a `mod.rs` is the folder above; of a plain file, its folder.
    let parent_of_super = if rel.ends_with("/mod.rs") {
        dir.rsplit_once('/').map(|(d, _)| d.to_string())
    } else {
        Some(dir.clone())
    };
    let mut found = BTreeSet::new();
    let mut add = |base: &str, name: &str| {
        for candidate in [format!("{base}/{name}.rs"), format!("{base}/{name}/mod.rs")] {
            if candidate != rel {
                found.insert(candidate);
            }
        }
    };
    for (prefix, base) in [
        ("super::".to_string(), parent_of_super),
        (format!("crate::{top}::"), Some(top.to_string())),
    ] {
        let Some(base) = base else { continue };
        for name in names_after(code, &prefix) {
            add(&base, &name);
        }
    }
    found
}

/// Every elementary cycle found by a depth-first search, each once.
fn file_cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut cycles: BTreeSet<Vec<String>> = BTreeSet::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((node, path)) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    // One rotation per cycle: start at the smallest file.
                    let min = cycle
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, f)| f.as_str())
                        .map_or(0, |(i, _)| i);
                    cycle.rotate_left(min);
                    let first = cycle[0].clone();
                    cycle.push(first);
                    cycles.insert(cycle);
                } else if !path.contains(next) && next.as_str() > start.as_str() {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    cycles.into_iter().collect()
}

/// `cargo xtask layers`.
pub(crate) fn task(root: &Path) -> Result<(), String> {
    let src = root.join("gateway/src");
    let problems = check(&src, GATEWAY_LAYERS)?;
    if problems.is_empty() {
        println!(
            "gateway/src: {} layers, no import up the list, no cycle",
            GATEWAY_LAYERS.len()
        );
        return Ok(());
    }
    Err(problems.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (path, text) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(full, text).expect("write");
        }
        dir
    }

    #[test]
    fn the_gateway_tree_keeps_its_layers() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateway/src");
        let problems = check(&root, GATEWAY_LAYERS).expect("readable tree");
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn an_import_up_the_list_is_named() {
        let dir = tree(&[
            ("low/mod.rs", "use crate::high::Thing;\n"),
            ("high.rs", "use crate::low::Other;\n"),
        ]);
        let problems = check(dir.path(), &["high", "low"]).expect("tree");
        assert_eq!(
            problems,
            vec!["low/mod.rs: imports `crate::high`, which is not below `low` in the layers"]
        );
    }

    #[test]
    fn test_modules_comments_and_unknown_modules() {
        let dir = tree(&[
            (
                "low.rs",
                "// see crate::high\n#[cfg(test)]\nmod tests {\n    use crate::high::X;\n}\n",
            ),
            ("high.rs", "use crate::low::Y;\n"),
            ("stray.rs", "\n"),
        ]);
        let problems = check(dir.path(), &["high", "low"]).expect("tree");
        assert_eq!(problems, vec!["module `stray` is not in the layer list"]);
    }

    #[test]
    fn a_file_cycle_inside_a_folder_is_named() {
        let dir = tree(&[
            ("a/mod.rs", "mod b;\nmod c;\n"),
            ("a/b.rs", "use super::c::X;\n"),
            ("a/c.rs", "use crate::a::b::Y;\n"),
        ]);
        let problems = check(dir.path(), &["a"]).expect("tree");
        assert_eq!(problems, vec!["import cycle: a/b.rs -> a/c.rs -> a/b.rs"]);
    }
}
