//! The retry policy of a cluster, compiled from config, and the one place
//! that decides whether a failed attempt is tried again.
//!
//! Every proxy phase that sees a failure (a connect error, a retryable
//! status, an error while exchanging) describes it as a [`RetryInput`] and
//! acts on [`RetryPolicy::decide`]'s answer.

use crate::config::{RetryConfig, RetryOn};
use pingora::{Error, ErrorSource, ErrorType, RetryType};

/// When and how often a failed attempt is retried on another endpoint.
#[derive(Debug, Clone, Default)]
pub struct RetryPolicy {
    /// Retries allowed after the first attempt.
    pub attempts: usize,
    /// Retry when connecting fails (safe for any method).
    pub on_connect_failure: bool,
    /// Retry idempotent requests whose upstream timed out.
    pub on_timeout: bool,
    /// Retry idempotent requests whose connection failed after sending.
    pub on_reset: bool,
    statuses: Vec<u16>,
}

/// What went wrong with an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Connecting to the endpoint failed; nothing was sent.
    Connect,
    /// The endpoint answered with this status.
    Status(u16),
    /// The endpoint did not read or answer in time.
    Timeout,
    /// The upstream connection broke after the request went out.
    Reset,
    /// A pooled connection the endpoint had already closed (Pingora marks
    /// these errors "retry only on a reused connection").
    StaleConnection,
    /// The client side failed (closed, reset, sent garbage): the client is
    /// gone or at fault, so nothing is retried and the endpoint is blameless.
    Downstream,
    /// Anything else (invalid upstream response, internal error).
    Other,
}

impl Failure {
    /// Classifies an error Pingora reported while proxying. `reused`: the
    /// upstream connection came from the pool.
    pub fn of(e: &Error, reused: bool) -> Failure {
        if *e.esource() == ErrorSource::Downstream {
            return Failure::Downstream;
        }
        if reused && matches!(e.retry, RetryType::ReusedOnly) {
            return Failure::StaleConnection;
        }
        match e.etype() {
            ErrorType::ReadTimedout | ErrorType::WriteTimedout => Failure::Timeout,
            ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError => {
                Failure::Reset
            }
            _ => Failure::Other,
        }
    }

    /// Whether the endpoint is to blame (counted as an attempt error).
    pub fn blames_endpoint(self) -> bool {
        !matches!(
            self,
            Failure::Downstream | Failure::Status(_) | Failure::StaleConnection
        )
    }
}

/// Everything a retry decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct RetryInput {
    /// The failure.
    pub failure: Failure,
    /// The method is idempotent and the whole request body is still
    /// buffered, so it can be sent again.
    pub replayable: bool,
    /// A response header already went to the client.
    pub response_started: bool,
    /// Attempts made so far, the failed one included (reconnects excluded).
    pub attempts_made: usize,
    /// An endpoint not yet tried for this request is available.
    pub candidate_left: bool,
}

/// The answer for one failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try another endpoint; counts as a retry.
    Retry,
    /// Open a fresh connection to the same endpoint; not a retry.
    Reconnect,
    /// Give the failure to the client.
    GiveUp,
}

impl RetryPolicy {
    /// Compiles the config form.
    pub fn new(cfg: &RetryConfig) -> Self {
        let mut policy = RetryPolicy {
            attempts: cfg.attempts,
            ..Default::default()
        };
        for on in &cfg.on {
            match on {
                RetryOn::ConnectFailure => policy.on_connect_failure = true,
                RetryOn::Timeout => policy.on_timeout = true,
                RetryOn::Reset => policy.on_reset = true,
                RetryOn::Status(code) => policy.statuses.push(*code),
            }
        }
        policy
    }

    /// Whether another attempt fits the budget after `attempts_made` attempts.
    pub fn has_budget(&self, attempts_made: usize) -> bool {
        attempts_made <= self.attempts
    }

    /// Whether any status is retried.
    pub fn retries_statuses(&self) -> bool {
        !self.statuses.is_empty()
    }

    /// Whether `status` is one the policy retries (for any method).
    pub fn retries_status(&self, status: u16) -> bool {
        self.statuses.contains(&status)
    }

    /// Decides what happens after a failed attempt.
    pub fn decide(&self, input: &RetryInput) -> RetryDecision {
        use Failure::*;
        // Once the client has a response header, another attempt would send
        // it a second one.
        if input.response_started || input.failure == Downstream {
            return RetryDecision::GiveUp;
        }
        if input.failure == StaleConnection {
            return if input.replayable {
                RetryDecision::Reconnect
            } else {
                RetryDecision::GiveUp
            };
        }
        let wanted = match input.failure {
            // Nothing was sent: safe for any method.
            Connect => self.on_connect_failure,
            // The request was sent: only a replayable one may go again.
            Status(code) => input.replayable && self.retries_status(code),
            Timeout => input.replayable && self.on_timeout,
            Reset => input.replayable && self.on_reset,
            StaleConnection | Downstream | Other => false,
        };
        if wanted && self.has_budget(input.attempts_made) && input.candidate_left {
            RetryDecision::Retry
        } else {
            RetryDecision::GiveUp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(attempts: usize, on: Vec<RetryOn>) -> RetryPolicy {
        RetryPolicy::new(&RetryConfig { attempts, on })
    }

    fn input(failure: Failure) -> RetryInput {
        RetryInput {
            failure,
            replayable: true,
            response_started: false,
            attempts_made: 1,
            candidate_left: true,
        }
    }

    fn every_condition() -> RetryPolicy {
        policy(
            2,
            vec![
                RetryOn::ConnectFailure,
                RetryOn::Timeout,
                RetryOn::Reset,
                RetryOn::Status(503),
            ],
        )
    }

    #[test]
    fn budget_counts_retries_after_the_first_attempt() {
        let p = every_condition();
        assert!(p.has_budget(1) && p.has_budget(2) && !p.has_budget(3));
        let after = |n| RetryInput {
            attempts_made: n,
            ..input(Failure::Connect)
        };
        assert_eq!(p.decide(&after(2)), RetryDecision::Retry);
        assert_eq!(p.decide(&after(3)), RetryDecision::GiveUp);
    }

    #[test]
    fn only_configured_conditions_retry() {
        let p = policy(1, vec![RetryOn::ConnectFailure, RetryOn::Status(503)]);
        assert_eq!(p.decide(&input(Failure::Connect)), RetryDecision::Retry);
        assert_eq!(p.decide(&input(Failure::Status(503))), RetryDecision::Retry);
        assert_eq!(
            p.decide(&input(Failure::Status(500))),
            RetryDecision::GiveUp
        );
        assert_eq!(p.decide(&input(Failure::Timeout)), RetryDecision::GiveUp);
        assert_eq!(p.decide(&input(Failure::Reset)), RetryDecision::GiveUp);
        assert_eq!(p.decide(&input(Failure::Other)), RetryDecision::GiveUp);
    }

    #[test]
    fn a_request_that_cannot_be_replayed_retries_only_failed_connects() {
        let p = every_condition();
        for (failure, want) in [
            (Failure::Connect, RetryDecision::Retry),
            (Failure::Status(503), RetryDecision::GiveUp),
            (Failure::Timeout, RetryDecision::GiveUp),
            (Failure::Reset, RetryDecision::GiveUp),
            (Failure::StaleConnection, RetryDecision::GiveUp),
        ] {
            let i = RetryInput {
                replayable: false,
                ..input(failure)
            };
            assert_eq!(p.decide(&i), want, "{failure:?}");
        }
    }

    #[test]
    fn client_side_failures_and_started_responses_never_retry() {
        let p = every_condition();
        assert_eq!(p.decide(&input(Failure::Downstream)), RetryDecision::GiveUp);
        let started = RetryInput {
            response_started: true,
            ..input(Failure::Reset)
        };
        assert_eq!(p.decide(&started), RetryDecision::GiveUp);
    }

    #[test]
    fn stale_pooled_connections_reconnect_without_budget_or_candidates() {
        let p = policy(0, vec![]);
        let i = RetryInput {
            attempts_made: 5,
            candidate_left: false,
            ..input(Failure::StaleConnection)
        };
        assert_eq!(p.decide(&i), RetryDecision::Reconnect);
    }

    #[test]
    fn errors_are_classified_by_side_and_kind() {
        let down = Error::explain(ErrorType::ConnectionClosed, "client gone").into_down();
        assert_eq!(Failure::of(&down, true), Failure::Downstream);
        let mut stale = Error::explain(ErrorType::ConnectionClosed, "pooled").into_up();
        stale.retry = RetryType::ReusedOnly;
        assert_eq!(Failure::of(&stale, true), Failure::StaleConnection);
        assert_eq!(Failure::of(&stale, false), Failure::Reset);
        let timeout = Error::explain(ErrorType::ReadTimedout, "slow").into_up();
        assert_eq!(Failure::of(&timeout, false), Failure::Timeout);
        let bad = Error::explain(ErrorType::InvalidHTTPHeader, "bad").into_up();
        assert_eq!(Failure::of(&bad, false), Failure::Other);
        assert!(!Failure::Downstream.blames_endpoint());
        assert!(Failure::Reset.blames_endpoint());
    }

    #[test]
    fn no_untried_endpoint_means_no_retry() {
        let i = RetryInput {
            candidate_left: false,
            ..input(Failure::Connect)
        };
        assert_eq!(every_condition().decide(&i), RetryDecision::GiveUp);
    }
}
