//! `websocket`: one WebSocket through the gateway, messages echoed back in
//! batches, with an optional silence halfway (longer than the cluster's
//! `timeouts.read` in the `websocket` scenario).

use super::kind::{Problem, StepKind};
use crate::scenario::context::RunContext;
use crate::scenario::mock::Upstreams;
use crate::scenario::values::{default_listener, default_path, opt_duration};
use crate::websocket::{exchange, WsClient};
use async_trait::async_trait;
use serde::Deserialize;
use std::time::Duration;

/// One WebSocket through the gateway: `messages` test messages sent in
/// batches and their echoes read back, with an optional silence halfway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketStep {
    /// Path of the upgrade request.
    #[serde(default = "default_path")]
    pub path: String,
    /// How many messages.
    pub messages: usize,
    /// Silence after the first half of the messages.
    #[serde(default, deserialize_with = "opt_duration")]
    pub pause: Option<Duration>,
    /// Which `${port.NAME}` listener (default `proxy`).
    #[serde(default = "default_listener")]
    pub listener: String,
    /// What must hold afterwards.
    #[serde(default)]
    pub expect: WebSocketExpect,
}

/// Checks on a [`WebSocketStep`]; the exchange itself must always complete.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketExpect {
    /// Every reply equals the message sent at its position.
    #[serde(default)]
    pub echoed_in_order: bool,
}

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

    fn check(&self, _upstreams: &Upstreams) -> Result<(), Problem> {
        if self.messages == 0 {
            return Err(("messages".into(), "expected at least one message".into()));
        }
        Ok(())
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<String, String> {
        let addr = ctx.listener_addr(&self.listener)?;
        let mut client = WsClient::connect(addr, &self.path).await?;
        let result = exchange(&mut client, self.messages, BATCH, self.pause).await;
        let closed = client.close().await;
        ctx.record_websocket();
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
