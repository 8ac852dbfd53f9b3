//! Finding (and building, once per process) the `gateway` binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The gateway binary: `GATEWAY_BIN` if set, else `target/debug/gateway`,
/// built (or found up to date) with cargo on first use.
pub fn gateway_binary() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(build).clone()
}

fn build() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("GATEWAY_BIN") {
        return Ok(PathBuf::from(path));
    }
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(&cargo)
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--package",
            "gateway",
            "--bin",
            "gateway",
        ])
        .output()
        .map_err(|e| format!("running {cargo} build: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the gateway failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    Ok(target.join("debug").join("gateway"))
}
