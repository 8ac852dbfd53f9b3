//! `gateway`: runs the proxy. Pingora's flags keep their meaning: `-c FILE`
//! (without it, the embedded default config), `-d` daemonize, `-u` take over
//! listeners from a running gateway, `-t` check the config and exit.

use gateway::config::{self, LoadedConfig};
use gateway::Generation;
use pingora::server::configuration::Opt;
use pingora::server::RunArgs;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// The shipped binary allocates with mimalloc (feature `mimalloc`, on by
/// default): fewer CPU cycles per request than glibc's malloc under the
/// proxy's many short-lived allocations; see docs/PERFORMANCE.md.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Longest wait at exit for the access log's last lines to be written.
const ACCESS_LOG_FLUSH_WAIT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut opt = Opt::parse_args();
    let loaded = match opt.conf.take() {
        Some(path) => config::load_file(Path::new(&path)),
        None => config::load_embedded(),
    };
    if opt.test {
        return check_only(loaded);
    }
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    log::info!("starting with config {}", loaded.source.display_name());
    match gateway::build(Some(opt), loaded) {
        Ok((server, state)) => {
            server.run(RunArgs::default());
            state.access_log().flush(ACCESS_LOG_FLUSH_WAIT);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `-t`: validate and compile the config, print the verdict.
fn check_only(loaded: Result<LoadedConfig, config::ConfigError>) -> ExitCode {
    match loaded.and_then(|l| {
        let name = l.source.display_name();
        Generation::build(l, None, 0).map(|_| name)
    }) {
        Ok(name) => {
            println!("{name}: config OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
