//! A route's `body_rules`: regular expressions refused in the first
//! `inspect_bytes` of a request body.

use crate::config::security::BodyRulesConfig;
use prometheus::{register_int_counter_vec, IntCounter, IntCounterVec};
use regex::bytes::RegexSet;
use std::sync::LazyLock;

/// `gateway_body_rule_rejections_total{route}`.
static REJECTIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "gateway_body_rule_rejections_total",
        "Requests refused (403) because their body matched a body rule",
        &["route"]
    )
    .expect("metric registers once")
});

/// Compiled body rules of one route.
#[derive(Debug, Clone)]
pub(crate) struct BodyRules {
    deny: RegexSet,
    /// Bytes inspected from the start of the body.
    pub inspect_bytes: usize,
    rejections: IntCounter,
}

impl BodyRules {
    /// Compiles the patterns; `Err` is (key under `body_rules`, message).
    pub(crate) fn new(cfg: &BodyRulesConfig, route: &str) -> Result<Self, (String, String)> {
        let deny = RegexSet::new(&cfg.deny).map_err(|e| {
            (
                "deny".to_string(),
                format!("not a valid regular expression: {e}"),
            )
        })?;
        Ok(BodyRules {
            deny,
            inspect_bytes: cfg.inspect_bytes.as_usize(),
            rejections: REJECTIONS.with_label_values(&[route]),
        })
    }

    /// Whether the inspected part of `body` matches a deny pattern; counts
    /// the rejection when it does.
    pub(crate) fn refuses(&self, body: &[u8]) -> bool {
        let window = &body[..body.len().min(self.inspect_bytes)];
        let refused = self.deny.is_match(window);
        if refused {
            self.rejections.inc();
        }
        refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ByteSize;

    #[test]
    fn only_the_window_is_inspected() {
        let rules = BodyRules::new(
            &BodyRulesConfig {
                deny: vec![r"(?i)union\s+select".into(), "DROP TABLE".into()],
                inspect_bytes: ByteSize(32),
            },
            "unit",
        )
        .unwrap();
        assert!(rules.refuses(b"id=1 UNION  select * from users"));
        assert!(!rules.refuses(b"id=1"));
        let late = format!("{}DROP TABLE x", "a".repeat(40));
        assert!(!rules.refuses(late.as_bytes()));
    }
}
