//! One test per `scenarios/*.yaml`: run the story against the real gateway
//! and compare its metric snapshots (`tests/snapshots/`, reviewed with
//! `cargo insta review`).

use harness::scenario;
use std::sync::Mutex;

/// Scenarios run one at a time: they measure a real process under load and
/// should not share two cores with another scenario.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(name: &str) {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let report = runtime
        .block_on(scenario::run(&scenario::scenario_path(name)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_description(format!("scenario {name}, seed {}", report.seed));
    settings.bind(|| {
        for (snapshot, text) in &report.snapshots {
            insta::assert_snapshot!(snapshot.as_str(), text);
        }
    });
}

/// One test per file, in the module `scenario_file` (so `cargo xtask test`
/// can skip them with `--skip scenario_file::`: CI runs the suite once,
/// through `cargo xtask scenarios`).
macro_rules! scenarios {
    ($($test:ident => $file:literal),* $(,)?) => {
        mod scenario_file {
            $(
                #[test]
                fn $test() {
                    super::run($file);
                }
            )*
        }
        const ALL: &[&str] = &[$($file),*];
    };
}

scenarios! {
    auth => "auth",
    backup_pool => "backup-pool",
    body_mismatch => "body-mismatch",
    body_mismatch_chunked => "body-mismatch-chunked",
    config_watch => "config-watch",
    failover => "failover",
    flapping => "flapping",
    gcra => "gcra",
    grpc => "grpc",
    graceful_sigterm => "graceful-sigterm",
    graceful_upgrade => "graceful-upgrade",
    h2c_downstream => "h2c-downstream",
    h2c_upstream => "h2c-upstream",
    hot_reload => "hot-reload",
    mtls_downstream => "mtls-downstream",
    ip_and_size => "ip-and-size",
    inflight => "inflight",
    mtls_upstream => "mtls-upstream",
    no_poison => "no-poison",
    purge => "purge",
    stale_if_error => "stale-if-error",
    swr => "swr",
    thundering_herd => "thundering-herd",
    tls_sni => "tls-sni",
    uds => "uds",
    vary => "vary",
    websocket => "websocket",
}

#[test]
fn every_scenario_file_has_a_test() {
    let dir = harness::binary::workspace_root().join("scenarios");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("scenarios directory")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "yaml").then(|| path.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    files.sort();
    let mut listed: Vec<String> = ALL.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "add a line to the scenarios! list for each scenario file"
    );
}
