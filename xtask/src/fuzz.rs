//! `cargo xtask fuzz TARGET --seconds N`: runs one cargo-fuzz target of
//! `fuzz/` for N seconds on the stable toolchain (`--sanitizer none`),
//! installing cargo-fuzz first if it is missing.
//!
//! New inputs go to `fuzz/target/corpus-work/TARGET` (not committed); the
//! committed seeds in `fuzz/corpus/TARGET` are read only. Crashes land in
//! `fuzz/artifacts/TARGET/`; copy one into `fuzz/corpus/TARGET/` once fixed
//! so `cargo test` keeps replaying it.

use std::path::Path;
use std::process::Command;

/// Parses `TARGET --seconds N` and runs the fuzzer.
pub(crate) fn task(root: &Path, args: &[String]) -> Result<(), String> {
    let targets = targets(root)?;
    let usage = format!(
        "usage: cargo xtask fuzz TARGET --seconds N\ntargets: {}",
        targets.join(", ")
    );
    let (target, seconds) = match args {
        [target, flag, n] if flag == "--seconds" => {
            let n: u64 = n
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("--seconds takes a positive number, got `{n}`"))?;
            (target.as_str(), n)
        }
        _ => return Err(usage),
    };
    if !targets.iter().any(|t| t == target) {
        return Err(format!("no fuzz target `{target}`\n{usage}"));
    }
    ensure_cargo_fuzz()?;
    let work = root.join("fuzz/target/corpus-work").join(target);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root)
        .args(["fuzz", "run", "--sanitizer", "none", target])
        .arg(&work)
        .arg(root.join("fuzz/corpus").join(target))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"));
    crate::run(cmd)
}

/// Target names: the files in `fuzz/fuzz_targets/`.
fn targets(root: &Path) -> Result<Vec<String>, String> {
    let dir = root.join("fuzz/fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Installs cargo-fuzz from crates.io when `cargo fuzz` is not available.
fn ensure_cargo_fuzz() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let present = Command::new(&cargo)
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    eprintln!("xtask: cargo-fuzz is missing; installing it with `cargo install cargo-fuzz`");
    let mut install = Command::new(&cargo);
    install.args(["install", "cargo-fuzz"]);
    crate::run(install)
}
