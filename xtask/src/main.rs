//! Development tasks: `cargo xtask <task>`. Kept free of heavy dependencies
//! so it builds in seconds, even on a machine without cmake.

mod bench;
mod fuzz;
mod layers;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  demo [--config FILE]         run the gateway (embedded default config, or FILE) in front of mock upstreams
  test                         fmt check, clippy (-D warnings) and cargo test --workspace
                               (without the scenario files: `scenarios` runs those)
  scenario NAME [--repeat N]   run scenarios/NAME.yaml (N times) and report each step
  scenarios [--repeat N]       run every scenario and print a table
  ci                           what CI runs: test, then every scenario once more by itself
  layers                       check that gateway/src's stages import only the layers below them
  fuzz TARGET --seconds N      run one fuzz target of fuzz/ for N seconds (installs cargo-fuzz)
  bench [flags]                the gateway beside direct, bare Pingora, nginx and haproxy
                               under wrk (bench --help for flags; docs/PERFORMANCE.md)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(&args[1..]),
        Some("test") => test(),
        Some("scenario") => match args.get(1) {
            Some(name) => repeat_arg(&args[2..]).and_then(|n| scenario_task(name, n)),
            None => Err(format!("scenario needs a name\n\n{USAGE}")),
        },
        Some("scenarios") => repeat_arg(&args[1..]).and_then(scenarios_task),
        Some("bench") => return bench::main(&args[1..]),
        Some("ci") => test().and_then(|()| scenarios_task(1)),
        Some("layers") => layers::task(&workspace_root()),
        Some("fuzz") => ensure_cmake().and_then(|()| fuzz::task(&workspace_root(), &args[1..])),
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

/// A nested `cargo` in the workspace root. `cargo run` gave xtask its own
/// package variables; build scripts (ring's) rerun when they differ, so they
/// are removed, or every task would rebuild half the tree each time it
/// alternates with a plain `cargo build`.
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(
                key.as_str(),
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(key);
        }
    }
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

fn demo(extra: &[String]) -> Result<(), String> {
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
        .args(extra)
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
    // The scenario suite runs once, by `cargo xtask scenarios` (CI runs it
    // right after this), not a second time here.
    let mut test = cargo();
    test.args(["test", "--workspace", "--", "--skip", SCENARIO_TEST_PREFIX]);
    run(test)?;
    // Criterion benches once each, in test mode (a smoke run, no timing).
    let mut benches = cargo();
    benches.args(["test", "--workspace", "--benches"]);
    run(benches)
}

/// Module path of the per-file scenario tests in harness/tests/scenarios.rs.
const SCENARIO_TEST_PREFIX: &str = "scenario_file::";

fn repeat_arg(args: &[String]) -> Result<usize, String> {
    match args {
        [] => Ok(1),
        [flag, n] if flag == "--repeat" => n
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("--repeat takes a positive number, got `{n}`")),
        other => Err(format!("unexpected arguments {other:?}\n\n{USAGE}")),
    }
}

/// Scenario names from `scenarios/*.yaml`.
fn scenario_names() -> Result<Vec<String>, String> {
    let dir = workspace_root().join("scenarios");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "yaml").then(|| path.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    Ok(names)
}

/// The summary a scenario prints when it passes.
struct ScenarioResult {
    steps: String,
    requests: String,
    seconds: String,
}

/// Builds what the scenarios need once, so runs measure only themselves.
fn build_for_scenarios() -> Result<(), String> {
    ensure_cmake()?;
    // The same package selection as `cargo test --workspace` and as the
    // harness's own build of the binary, so features unify the same way and
    // nothing is relinked between runs.
    let mut build = cargo();
    build.args(["test", "--quiet", "--workspace", "--no-run"]);
    run(build)
}

/// Runs one scenario once through its test (so snapshots are compared by
/// insta); returns the summary when it passed.
fn run_scenario_once(name: &str, echo: bool) -> Result<Option<ScenarioResult>, String> {
    let test_name = format!("{SCENARIO_TEST_PREFIX}{}", name.replace('-', "_"));
    let mut cmd = cargo();
    cmd.args([
        "test",
        "--quiet",
        "--workspace",
        "--test",
        "scenarios",
        "--",
    ])
    .args([test_name.as_str(), "--exact", "--nocapture"]);
    let output = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if echo || !output.status.success() {
        print!("{stdout}");
        eprint!("{stderr}");
    }
    if !output.status.success() {
        return Ok(None);
    }
    // A run that printed no PASS line for this scenario did not run it
    // (filtered out, renamed, or the binary died quietly): not a pass.
    let Some(line) = stdout.lines().find(|l| {
        l.starts_with("scenario-result ")
            && l.split(' ').any(|kv| kv == format!("name={name}"))
            && l.split(' ').any(|kv| kv == "result=PASS")
    }) else {
        if !echo {
            print!("{stdout}");
            eprint!("{stderr}");
        }
        println!("xtask: no `scenario-result name={name} ... result=PASS` line from {test_name}: counted as FAIL");
        return Ok(None);
    };
    let field = |key: &str| {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .unwrap_or("?")
            .to_string()
    };
    Ok(Some(ScenarioResult {
        steps: field("steps"),
        requests: field("requests"),
        seconds: field("seconds"),
    }))
}

fn scenario_task(name: &str, repeat: usize) -> Result<(), String> {
    if !scenario_names()?.iter().any(|n| n == name) {
        return Err(format!(
            "no scenario `{name}`; available: {}",
            scenario_names()?.join(", ")
        ));
    }
    build_for_scenarios()?;
    let mut passed = 0;
    for i in 1..=repeat {
        if repeat > 1 {
            println!("--- run {i}/{repeat}");
        }
        if run_scenario_once(name, repeat == 1)?.is_some() {
            passed += 1;
            if repeat > 1 {
                println!("PASS {name} (run {i})");
            }
        } else {
            println!("FAIL {name} (run {i})");
        }
    }
    println!("{name}: {passed}/{repeat} passed");
    if passed == repeat {
        Ok(())
    } else {
        Err(format!(
            "{name} failed {} of {repeat} runs",
            repeat - passed
        ))
    }
}

fn scenarios_task(repeat: usize) -> Result<(), String> {
    build_for_scenarios()?;
    let names = scenario_names()?;
    let mut rows = Vec::new();
    let mut failed = 0;
    for name in &names {
        let mut passes = 0;
        let mut last = None;
        for _ in 0..repeat {
            if let Some(r) = run_scenario_once(name, false)? {
                passes += 1;
                last = Some(r);
            }
        }
        if passes < repeat {
            failed += 1;
        }
        let result = if passes == repeat { "PASS" } else { "FAIL" };
        let (steps, requests, seconds) = match last {
            Some(r) => (r.steps, r.requests, r.seconds),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!("{name}: {result} ({passes}/{repeat})");
        rows.push((
            name.clone(),
            steps,
            requests,
            format!("{result} {passes}/{repeat}"),
            seconds,
        ));
    }
    println!(
        "\n{:<22} {:>6} {:>9} {:>12} {:>8}",
        "scenario", "steps", "requests", "result", "seconds"
    );
    for (name, steps, requests, result, seconds) in &rows {
        println!("{name:<22} {steps:>6} {requests:>9} {result:>12} {seconds:>8}");
    }
    if failed == 0 {
        println!("\n{} passed, 0 failed", names.len());
        Ok(())
    } else {
        println!("\n{} passed, {failed} failed", names.len() - failed);
        Err(format!("{failed} scenario(s) failed"))
    }
}
