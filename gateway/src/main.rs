//! `gateway`: runs the proxy. Pingora's flags keep their meaning: `-c FILE`
//! (without it, the embedded default config), `-d` daemonize, `-u` take over
//! listeners from a running gateway, `-t` check the config and exit. `-T`
//! (as in nginx) checks it, then prints the effective config (defaults
//! filled in, secrets redacted) and its hash.

use gateway::config::{self, LoadedConfig};
use gateway::Generation;
use pingora::server::configuration::Opt;
use std::ffi::OsString;
use std::io::Write as _;
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
    let (dump, args) = take_dump_flag(std::env::args_os().collect());
    let mut opt = Opt::parse_from_args(args);
    let loaded = match opt.conf.take() {
        Some(path) => config::load_file(Path::new(&path)),
        None => config::load_embedded(),
    };
    if dump {
        return dump_config(loaded);
    }
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
            // SIGTERM and `POST /drain` get a drain delay, and a drained
            // process exits before the grace period ends (docs/FLEET.md).
            server.run(gateway::run_args(&state, ACCESS_LOG_FLUSH_WAIT));
            gateway::flush_at_exit(&state, ACCESS_LOG_FLUSH_WAIT);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Takes `-T` (or `--dump-config`) out of the arguments, since Pingora's
/// parser does not know it. Short flags may be grouped (`-tT`, `-Tc FILE`);
/// the value of `-c`/`--conf` and anything after `--` are left as they are.
fn take_dump_flag(args: Vec<OsString>) -> (bool, Vec<OsString>) {
    let mut dump = false;
    let mut out = Vec::with_capacity(args.len());
    let (mut value_next, mut positional) = (false, false);
    for (i, arg) in args.into_iter().enumerate() {
        let text = arg.to_str().map(str::to_string);
        match text.as_deref() {
            _ if i == 0 || value_next || positional => {
                value_next = false;
                out.push(arg);
            }
            Some("--") => {
                positional = true;
                out.push(arg);
            }
            Some("--dump-config") => dump = true,
            Some("--conf") => {
                value_next = true;
                out.push(arg);
            }
            Some(s) if s.len() > 1 && s.starts_with('-') && !s.starts_with("--") => {
                let mut kept = String::from("-");
                for (j, c) in s.char_indices().skip(1) {
                    match c {
                        'T' => dump = true,
                        'c' => {
                            // The rest is the file name, or it comes next.
                            kept.push_str(&s[j..]);
                            value_next = j + 1 == s.len();
                            break;
                        }
                        _ => kept.push(c),
                    }
                }
                if kept != "-" {
                    out.push(kept.into());
                }
            }
            _ => out.push(arg),
        }
    }
    (dump, out)
}

/// `-T`: validate and compile the config like `-t`, then print it with
/// defaults filled in, secrets redacted, and its hash.
fn dump_config(loaded: Result<LoadedConfig, config::ConfigError>) -> ExitCode {
    match loaded.and_then(|l| Generation::build(l, None, 0)) {
        Ok(generation) => {
            let name = generation.loaded.source.display_name();
            let text = config::fingerprint::dump(&generation.loaded.config, &name);
            // Not `print!`, which panics when stdout is a closed pipe.
            if let Err(e) = std::io::stdout().write_all(text.as_bytes()) {
                eprintln!("error: writing the config: {e}");
                return ExitCode::FAILURE;
            }
            eprintln!("{name}: config OK, hash {}", generation.hash);
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

#[cfg(test)]
mod tests {
    use super::take_dump_flag;
    use std::ffi::OsString;

    fn split(args: &[&str]) -> (bool, Vec<String>) {
        let args = args.iter().map(OsString::from).collect();
        let (dump, rest) = take_dump_flag(args);
        let rest = rest
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        (dump, rest)
    }

    #[test]
    fn dump_flag_is_taken_out_wherever_it_is() {
        let plain = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            split(&["gw", "-T", "-c", "a.yaml"]),
            (true, plain(&["gw", "-c", "a.yaml"]))
        );
        assert_eq!(
            split(&["gw", "-c", "a.yaml", "-T"]),
            (true, plain(&["gw", "-c", "a.yaml"]))
        );
        assert_eq!(
            split(&["gw", "-Tc", "a.yaml"]),
            (true, plain(&["gw", "-c", "a.yaml"]))
        );
        assert_eq!(
            split(&["gw", "-tT", "--conf", "a.yaml"]),
            (true, plain(&["gw", "-t", "--conf", "a.yaml"]))
        );
        assert_eq!(split(&["gw", "--dump-config"]), (true, plain(&["gw"])));
    }

    #[test]
    fn other_flags_and_file_names_are_left_alone() {
        let plain = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for args in [
            &["gw", "-t", "-c", "a.yaml"][..],
            &["gw", "-c", "-T"],
            &["gw", "-c/etc/T.yaml", "-d"],
            &["gw", "--conf", "-Tx.yaml", "-u"],
            &["gw", "--conf=T.yaml"],
            &["gw", "--", "-T"],
        ] {
            assert_eq!(split(args), (false, plain(args)), "{args:?}");
        }
    }
}
