//! `gateway.shutdown`: how a stopping gateway leaves a balanced fleet
//! (docs/FLEET.md, "Rolling restarts"). Pingora's own shutdown keys,
//! `grace_period_seconds` and `graceful_shutdown_timeout_seconds`, stay at
//! the top level.

use super::values::HumanDuration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Longest `gateway.shutdown.drain_delay`: a balancer notices a failing
/// health check within seconds, and every second here delays each restart.
pub const MAX_DRAIN_DELAY: Duration = Duration::from_secs(600);

/// `gateway.shutdown`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// After SIGTERM or `POST /drain`: how long `/ready` answers 503 while
    /// the proxy listeners still serve, before they stop accepting.
    #[serde(default = "default_drain_delay")]
    pub drain_delay: HumanDuration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            drain_delay: default_drain_delay(),
        }
    }
}

fn default_drain_delay() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}

/// The first problem in `gateway.shutdown`, as (key path, message).
pub(super) fn validate_shutdown(c: &ShutdownConfig) -> Result<(), (String, String)> {
    if c.drain_delay.0 > MAX_DRAIN_DELAY {
        return Err((
            "gateway.shutdown.drain_delay".into(),
            format!(
                "{} is too long; expected 0s to {}",
                c.drain_delay,
                HumanDuration(MAX_DRAIN_DELAY)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_delay_defaults_to_five_seconds_and_is_bounded() {
        assert_eq!(
            ShutdownConfig::default().drain_delay.0,
            Duration::from_secs(5)
        );
        let zero = ShutdownConfig {
            drain_delay: HumanDuration(Duration::ZERO),
        };
        assert!(validate_shutdown(&zero).is_ok());
        let long = ShutdownConfig {
            drain_delay: HumanDuration(MAX_DRAIN_DELAY + Duration::from_secs(1)),
        };
        let (path, message) = validate_shutdown(&long).unwrap_err();
        assert_eq!(path, "gateway.shutdown.drain_delay");
        assert!(message.contains("expected 0s to 10m"), "{message}");
    }
}
