//! Development tasks: `cargo xtask <task>`. Kept free of heavy dependencies
//! so it builds in seconds, even on a machine without cmake.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  demo    run the gateway on fixtures/demo.yaml in front of two mock upstreams
  test    fmt check, clippy (-D warnings) and cargo test --workspace
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("test") => test(),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

fn run(mut cmd: Command) -> Result<(), String> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

fn has(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Pingora's zlib-ng build needs cmake. Installs it when we can (root with
/// apt-get), otherwise says how.
fn ensure_cmake() -> Result<(), String> {
    if has("cmake") {
        return Ok(());
    }
    let apt = Command::new("apt-get").arg("--version").output().is_ok();
    if apt && is_root() {
        eprintln!("xtask: cmake is missing (Pingora's zlib-ng build needs it); installing it with apt-get");
        let mut update = Command::new("apt-get");
        update.args(["update", "-qq"]);
        run(update)?;
        let mut install = Command::new("apt-get");
        install
            .args(["install", "-y", "-qq", "cmake"])
            .env("DEBIAN_FRONTEND", "noninteractive");
        run(install)?;
        return Ok(());
    }
    Err(
        "cmake is required to build Pingora; install it first:\n    sudo apt-get install -y cmake"
            .into(),
    )
}

fn demo() -> Result<(), String> {
    ensure_cmake()?;
    let mut build = cargo();
    build.args([
        "build",
        "--package",
        "gateway",
        "--package",
        "harness",
        "--bins",
    ]);
    run(build)?;
    let root = workspace_root();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let err = Command::new(target.join("debug/gateway-demo"))
        .current_dir(&root)
        .arg("--gateway")
        .arg(target.join("debug/gateway"))
        .arg("--config")
        .arg(root.join("fixtures/demo.yaml"))
        .exec();
    Err(format!("starting the demo: {err}"))
}

fn test() -> Result<(), String> {
    ensure_cmake()?;
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt)?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(clippy)?;
    let mut test = cargo();
    test.args(["test", "--workspace"]);
    run(test)
}
