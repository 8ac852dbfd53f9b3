//! `signal`: SIGTERM / SIGINT / SIGHUP to the gateway, or a graceful
//! upgrade (a new process with `-u`, then SIGQUIT to the old one).

use super::kind::StepKind;
use crate::scenario::context::RunContext;
use crate::scenario::values::duration;
use crate::wait;
use async_trait::async_trait;
use nix::sys::signal::Signal;
use serde::Deserialize;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

/// Signals the runner can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// SIGTERM: graceful shutdown.
    Term,
    /// A new process with `-u`, then SIGQUIT to the old one.
    QuitUpgrade,
    /// SIGINT: fast shutdown.
    Int,
    /// SIGHUP: reload.
    Hup,
}

/// Signal the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalStep {
    /// Which signal.
    pub send: SignalKind,
    /// For term/int/quit_upgrade: the exit code the (old) process must end
    /// with.
    #[serde(default)]
    pub expect_exit: Option<i32>,
    /// How long the exit (or the upgrade) may take.
    #[serde(default = "default_signal_within", deserialize_with = "duration")]
    pub within: Duration,
}

fn default_signal_within() -> Duration {
    Duration::from_secs(20)
}

impl SignalStep {
    fn expect_exit(&self, status: ExitStatus) -> Result<String, String> {
        match self.expect_exit {
            Some(code) if status.code() != Some(code) => {
                Err(format!("exit status {status}, expected code {code}"))
            }
            _ => Ok(format!("exited with {status}")),
        }
    }

    async fn upgrade(&self, ctx: &mut RunContext) -> Result<String, String> {
        let mut next = ctx.gateway.spawn_upgrade()?;
        let sock = Path::new(ctx.gateway.var("dir").unwrap_or(".")).join("upgrade.sock");
        wait::until(
            "the new process to wait on the upgrade socket",
            self.within,
            || std::future::ready(sock.exists().then_some(())),
        )
        .await?;
        ctx.gateway.signal(Signal::SIGQUIT)?;
        next.wait_ready().await?;
        let mut old = ctx.replace_gateway(next);
        let status = old.wait_exit(self.within).await?;
        self.expect_exit(status)
            .map(|d| format!("new pid {}, old process {d}", ctx.gateway.pid()))
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

    async fn run(&self, ctx: &mut RunContext) -> Result<String, String> {
        let signal = match self.send {
            SignalKind::QuitUpgrade => return self.upgrade(ctx).await,
            SignalKind::Hup => {
                ctx.gateway.signal(Signal::SIGHUP)?;
                return Ok(String::new());
            }
            SignalKind::Term => Signal::SIGTERM,
            SignalKind::Int => Signal::SIGINT,
        };
        ctx.gateway.signal(signal)?;
        if self.expect_exit.is_none() {
            return Ok(String::new());
        }
        let status = ctx.gateway.wait_exit(self.within).await?;
        self.expect_exit(status)
    }
}
