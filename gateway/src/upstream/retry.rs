//! The retry policy of a cluster, compiled from config.

use crate::config::{RetryConfig, RetryOn};

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

    /// Whether an upstream answer with `status` is retried (idempotent only).
    pub fn retries_status(&self, status: u16) -> bool {
        self.statuses.contains(&status)
    }

    /// Whether any status is retried.
    pub fn retries_statuses(&self) -> bool {
        !self.statuses.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_counts_retries_after_the_first_attempt() {
        let p = RetryPolicy::new(&RetryConfig {
            attempts: 2,
            on: vec![RetryOn::ConnectFailure, RetryOn::Status(503)],
        });
        assert!(p.has_budget(1) && p.has_budget(2) && !p.has_budget(3));
        assert!(p.on_connect_failure && !p.on_timeout);
        assert!(p.retries_status(503) && !p.retries_status(500));
    }
}
