//! `signal`: SIGTERM / SIGINT / SIGHUP to the gateway, or a graceful
//! upgrade (a new process with `-u`, then SIGQUIT to the old one).

use super::StepKind;
use crate::scenario::model::{SignalKind, SignalStep};
use crate::scenario::runner::Runner;
use crate::wait;
use async_trait::async_trait;
use nix::sys::signal::Signal;
use std::path::Path;
use std::process::ExitStatus;

impl SignalStep {
    fn expect_exit(&self, status: ExitStatus) -> Result<String, String> {
        match self.expect_exit {
            Some(code) if status.code() != Some(code) => {
                Err(format!("exit status {status}, expected code {code}"))
            }
            _ => Ok(format!("exited with {status}")),
        }
    }

    async fn upgrade(&self, runner: &mut Runner) -> Result<String, String> {
        let mut next = runner.gateway.spawn_upgrade()?;
        let sock = Path::new(runner.gateway.var("dir").unwrap_or(".")).join("upgrade.sock");
        wait::until(
            "the new process to wait on the upgrade socket",
            self.within,
            || std::future::ready(sock.exists().then_some(())),
        )
        .await?;
        runner.gateway.signal(Signal::SIGQUIT)?;
        next.wait_ready().await?;
        let mut old = runner.replace_gateway(next);
        let status = old.wait_exit(self.within).await?;
        self.expect_exit(status)
            .map(|d| format!("new pid {}, old process {d}", runner.gateway.pid()))
    }
}

#[async_trait]
impl StepKind for SignalStep {
    fn describe(&self) -> String {
        let name = match self.send {
            SignalKind::Term => "term",
            SignalKind::QuitUpgrade => "quit_upgrade",
            SignalKind::Int => "int",
            SignalKind::Hup => "hup",
        };
        format!("signal {name}")
    }

    async fn run(&self, runner: &mut Runner) -> Result<String, String> {
        let signal = match self.send {
            SignalKind::QuitUpgrade => return self.upgrade(runner).await,
            SignalKind::Hup => {
                runner.gateway.signal(Signal::SIGHUP)?;
                return Ok(String::new());
            }
            SignalKind::Term => Signal::SIGTERM,
            SignalKind::Int => Signal::SIGINT,
        };
        runner.gateway.signal(signal)?;
        if self.expect_exit.is_none() {
            return Ok(String::new());
        }
        let status = runner.gateway.wait_exit(self.within).await?;
        self.expect_exit(status)
    }
}
