//! `websocket`: one WebSocket through the gateway, messages echoed back in
//! batches, with an optional silence halfway (longer than the cluster's
//! `timeouts.read` in the `websocket` scenario).

use super::{Problem, StepKind};
use crate::scenario::model::{Scenario, WebSocketStep};
use crate::scenario::runner::Runner;
use crate::websocket::{exchange, WsClient};
use async_trait::async_trait;
use std::net::SocketAddr;

/// Messages queued at once before their echoes are read.
const BATCH: usize = 50;

#[async_trait]
impl StepKind for WebSocketStep {
    fn describe(&self) -> String {
        let pause = self
            .pause
            .map(|p| format!(", pause {p:?} halfway"))
            .unwrap_or_default();
        format!(
            "websocket {} messages on {}{pause}",
            self.messages, self.path
        )
    }

    fn check(&self, _scenario: &Scenario) -> Result<(), Problem> {
        if self.messages == 0 {
            return Err(("messages".into(), "expected at least one message".into()));
        }
        Ok(())
    }

    async fn run(&self, runner: &mut Runner) -> Result<String, String> {
        let key = format!("port.{}", self.listener);
        let port: u16 = runner
            .gateway
            .var(&key)
            .ok_or_else(|| format!("the config has no ${{{key}}} listener"))?
            .parse()
            .map_err(|_| format!("${{{key}}} is not a port"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut client = WsClient::connect(addr, &self.path).await?;
        let result = exchange(&mut client, self.messages, BATCH, self.pause).await;
        let closed = client.close().await;
        runner.record_websocket();
        let report = result?;
        closed?;
        if self.expect.echoed_in_order && !report.echoed_in_order() {
            return Err(format!(
                "{} of {} echoed; first reply out of order or changed: {:?}",
                report.received, report.sent, report.first_mismatch
            ));
        }
        Ok(format!(
            "{} of {} echoed in order",
            report.received, report.sent
        ))
    }
}
