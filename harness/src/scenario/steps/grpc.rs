//! `grpc`: calls to the `grpc` mock's echo service through an h2c listener,
//! checked by final `grpc-status` and by the replies received.

use super::kind::{Problem, StepKind};
use crate::grpc::{CallOutcome, EchoClient, EchoRequest};
use crate::scenario::context::RunContext;
use crate::scenario::mock::Upstreams;
use crate::scenario::values::{default_concurrency, default_listener, default_timeout, duration};
use async_trait::async_trait;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// gRPC calls through an h2c listener to the `grpc` mock's echo service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcStep {
    /// Which `${port.NAME}` listener (default `proxy`; it needs `h2c: true`).
    #[serde(default = "default_listener")]
    pub listener: String,
    /// Which method.
    pub call: GrpcCallKind,
    /// How many calls.
    pub requests: usize,
    /// Calls in flight at once (streams on one h2c connection).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Replies asked of each `stream` call (default 1; unary: always 1).
    #[serde(default = "default_messages")]
    pub messages: u32,
    /// A status the echo service ends each call with instead of OK, after
    /// its replies (in the trailers) or alone (trailers-only).
    #[serde(default)]
    pub status: i32,
    /// Per-call timeout.
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// What must hold afterwards.
    #[serde(default)]
    pub expect: GrpcExpect,
}

/// The echo service's methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrpcCallKind {
    /// `/echo.Echo/Unary`: one reply.
    Unary,
    /// `/echo.Echo/Stream`: `messages` replies.
    Stream,
}

/// Checks on a batch of gRPC calls. Every call must end with a status that
/// was received (a transport failure or a missing `grpc-status` fails the
/// step), and every reply must echo its request in order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcExpect {
    /// Exact counts of calls by final `grpc-status`; a status not listed
    /// must not occur.
    #[serde(default)]
    pub grpc_status: Option<BTreeMap<i32, usize>>,
    /// Replies received in total.
    #[serde(default)]
    pub messages: Option<usize>,
    /// Text every non-OK `grpc-message` must contain.
    #[serde(default)]
    pub grpc_message_contains: Option<String>,
}

fn default_messages() -> u32 {
    1
}

#[async_trait]
impl StepKind for GrpcStep {
    fn describe(&self) -> String {
        let call = match self.call {
            GrpcCallKind::Unary => "unary".to_string(),
            GrpcCallKind::Stream => format!("stream of {}", self.messages),
        };
        format!(
            "grpc {} x {call} (concurrency {})",
            self.requests, self.concurrency
        )
    }

    fn check(&self, _upstreams: &Upstreams) -> Result<(), Problem> {
        if self.requests == 0 {
            return Err(("requests".into(), "give at least one call".into()));
        }
        if self.concurrency == 0 {
            return Err(("concurrency".into(), "must be at least 1".into()));
        }
        if self.call == GrpcCallKind::Unary && self.messages != 1 {
            return Err((
                "messages".into(),
                "a unary call has exactly one reply; `messages` is for `call: stream`".into(),
            ));
        }
        if !(0..=16).contains(&self.status) {
            return Err((
                "status".into(),
                format!("{} is not a gRPC status code (0 to 16)", self.status),
            ));
        }
        Ok(())
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<String, String> {
        let addr = ctx.listener_addr(&self.listener)?;
        let client = EchoClient::new(addr, self.timeout)?;
        let outcomes = run_calls(self, client).await;
        let received = outcomes.iter().filter(|o| o.status_received).count();
        ctx.record_calls(received, outcomes.len() - received);
        check(self, &outcomes)
    }
}

/// Runs the step's calls, `concurrency` at a time.
async fn run_calls(step: &GrpcStep, client: EchoClient) -> Vec<CallOutcome> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::with_capacity(step.concurrency);
    for _ in 0..step.concurrency.min(step.requests) {
        let (client, next) = (client.clone(), next.clone());
        let (total, kind, messages, status) =
            (step.requests, step.call, step.messages, step.status);
        workers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    return outcomes;
                }
                let req = EchoRequest {
                    message: format!("call {i}"),
                    count: messages,
                    status,
                    pause_ms: 0,
                };
                outcomes.push(match kind {
                    GrpcCallKind::Unary => client.unary(req).await,
                    GrpcCallKind::Stream => client.stream(req).await,
                });
            }
        }));
    }
    let mut all = Vec::with_capacity(step.requests);
    for worker in workers {
        // A worker only ends by running out of calls (each call is bounded
        // by the client's timeout); a panic would be a harness bug.
        all.extend(worker.await.unwrap_or_default());
    }
    all
}

/// The step's expectations over its outcomes.
fn check(step: &GrpcStep, outcomes: &[CallOutcome]) -> Result<String, String> {
    let mut by_status: BTreeMap<i32, usize> = BTreeMap::new();
    let (mut replies, mut wrong, mut lost) = (0, 0, Vec::new());
    for o in outcomes {
        replies += o.replies;
        wrong += o.wrong_replies;
        if o.status_received {
            *by_status.entry(o.code).or_default() += 1;
        } else {
            lost.push(format!("{} ({})", o.code, o.message));
        }
    }
    let seen = format!("statuses {by_status:?}, {replies} replies");
    let mut problems = Vec::new();
    if !lost.is_empty() {
        lost.sort();
        lost.dedup();
        problems.push(format!(
            "{} of {} calls ended without a received grpc-status: {}",
            outcomes.len() - by_status.values().sum::<usize>(),
            outcomes.len(),
            lost.join(", ")
        ));
    }
    if wrong > 0 {
        problems.push(format!(
            "{wrong} replies did not echo their request in order"
        ));
    }
    if let Some(want) = &step.expect.grpc_status {
        if *want != by_status {
            problems.push(format!(
                "grpc-status counts {by_status:?}, expected {want:?}"
            ));
        }
    }
    if let Some(want) = step.expect.messages.filter(|w| *w != replies) {
        problems.push(format!("{replies} replies received, expected {want}"));
    }
    if let Some(text) = &step.expect.grpc_message_contains {
        let bad: Vec<_> = outcomes
            .iter()
            .filter(|o| o.code != 0 && !o.message.contains(text.as_str()))
            .map(|o| o.message.as_str())
            .collect();
        if !bad.is_empty() {
            problems.push(format!(
                "{} grpc-message values without `{text}`: {:?}",
                bad.len(),
                bad.iter().take(3).collect::<Vec<_>>()
            ));
        }
    }
    if problems.is_empty() {
        Ok(seen)
    } else {
        Err(format!("{}\n(saw {seen})", problems.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(yaml: &str) -> GrpcStep {
        serde_yaml::from_str(yaml).expect("step")
    }

    fn outcome(code: i32, replies: usize, received: bool) -> CallOutcome {
        CallOutcome {
            code,
            message: if code == 0 { "" } else { "upstream failed" }.into(),
            replies,
            wrong_replies: 0,
            status_received: received,
        }
    }

    #[test]
    fn counts_statuses_and_replies() {
        let s = step("{ call: stream, requests: 2, messages: 3, expect: { grpc_status: { 0: 2 }, messages: 6 } }");
        assert!(check(&s, &[outcome(0, 3, true), outcome(0, 3, true)]).is_ok());
        let err = check(&s, &[outcome(0, 3, true), outcome(14, 0, true)]).unwrap_err();
        assert!(err.contains("grpc-status counts"), "{err}");
        assert!(err.contains("3 replies received, expected 6"), "{err}");
    }

    #[test]
    fn a_status_not_received_fails_whatever_the_counts() {
        let s = step("{ call: unary, requests: 1 }");
        let err = check(&s, &[outcome(14, 0, false)]).unwrap_err();
        assert!(err.contains("without a received grpc-status"), "{err}");
    }

    #[test]
    fn unary_calls_cannot_ask_for_several_messages() {
        let upstreams = Upstreams::new();
        let s = step("{ call: unary, requests: 1, messages: 3 }");
        assert_eq!(s.check(&upstreams).unwrap_err().0, "messages");
        let s = step("{ call: stream, requests: 1, status: 17 }");
        assert_eq!(s.check(&upstreams).unwrap_err().0, "status");
    }
}
