//! Replays every file of `fuzz/corpus/<target>/` through the same function
//! its cargo-fuzz target calls (`fuzz/cases.rs`), so a plain `cargo test`
//! keeps every seed and every saved crash input passing without fuzzing.

// `pub` is the API the cargo-fuzz targets call; here the module is private.
#[allow(unreachable_pub)]
#[path = "../../../fuzz/cases.rs"]
mod cases;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Runs each corpus file of `target`; fails naming every file that panicked.
fn replay(target: &str) {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "{} has no seed files to replay",
        dir.display()
    );
    let mut failed = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let outcome = catch_unwind(AssertUnwindSafe(|| cases::run(target, &data)));
        match outcome {
            Ok(true) => {}
            Ok(false) => panic!("unknown fuzz target {target}"),
            Err(_) => failed.push(file.display().to_string()),
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} corpus files panicked: {failed:#?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn every_target_has_a_corpus() {
    for target in cases::TARGETS {
        assert!(
            corpus_dir(target).is_dir(),
            "fuzz/corpus/{target} is missing"
        );
    }
}

#[test]
fn config_corpus() {
    replay("config");
}

#[test]
fn routing_corpus() {
    replay("routing");
}

#[test]
fn rewrite_corpus() {
    replay("rewrite");
}

#[test]
fn header_rules_corpus() {
    replay("header_rules");
}

#[test]
fn scenario_corpus() {
    replay("scenario");
}

#[test]
fn path_corpus() {
    replay("path");
}
