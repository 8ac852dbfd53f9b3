//! Finding the `gateway` binary (and building it when it is missing or
//! older than its sources).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The gateway binary: `GATEWAY_BIN` if set, else `target/debug/gateway`.
///
/// `cargo test --workspace` and `cargo xtask scenario(s)` build it before
/// any test runs. When it is missing or older than `gateway/src`, it is
/// built here once per process.
pub fn gateway_binary() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(locate).clone()
}

fn locate() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("GATEWAY_BIN") {
        return Ok(PathBuf::from(path));
    }
    let root = workspace_root();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let binary = target.join("debug").join("gateway");
    let built = modified(&binary);
    let sources =
        newest(&root.join("gateway").join("src")).max(modified(&root.join("gateway/Cargo.toml")));
    if built.is_some() && built >= sources {
        return Ok(binary);
    }
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
    Ok(binary)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of any file under `dir`.
fn newest(dir: &Path) -> Option<SystemTime> {
    let mut latest = None;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest(&path)
        } else {
            modified(&path)
        };
        latest = latest.max(time);
    }
    latest
}
