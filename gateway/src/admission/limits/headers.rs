//! `Retry-After`, `RateLimit-Policy` and `RateLimit` values for a GCRA
//! decision (draft-ietf-httpapi-ratelimit-headers, structured-field form).
//!
//! The policy is stated as `q = burst` requests per `w` seconds, `w` being
//! the time the key needs to earn a full burst back (`burst · T`, rounded up
//! to whole seconds, at least 1), so `q / w` is the sustained rate.
//! `RateLimit` gives `r`, the requests the key can still make now, and `t`,
//! the seconds until its full burst is available again. All durations are
//! rounded up: a client that waits as told is never refused for rounding.

use super::gcra::{Decision, GcraPolicy};
use std::time::Duration;

/// Header values for one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RateLimitHeaders {
    /// `Retry-After` in seconds; only for a denied request.
    pub retry_after: Option<String>,
    /// `RateLimit-Policy`.
    pub policy: String,
    /// `RateLimit`.
    pub ratelimit: String,
}

/// Renders the header values for `decision` under `policy`, whose name (a
/// structured-field string: quotes and backslashes are escaped) is `name`.
pub(crate) fn rate_limit_headers(
    name: &str,
    policy: &GcraPolicy,
    decision: &Decision,
) -> RateLimitHeaders {
    let name = sf_string(name);
    let window = ceil_secs(Duration::from_nanos(
        policy.burst().saturating_mul(policy.interval_nanos()),
    ))
    .max(1);
    RateLimitHeaders {
        retry_after: (!decision.allowed)
            .then(|| ceil_secs(decision.retry_after).max(1).to_string()),
        policy: format!("{name};q={};w={window}", policy.burst()),
        ratelimit: format!(
            "{name};r={};t={}",
            decision.remaining,
            ceil_secs(decision.reset_after)
        ),
    }
}

/// Header values for a refused sliding-window request: the quota is `max`
/// per `per` seconds, nothing remains, and the window frees capacity after
/// `retry_after`.
pub(crate) fn window_headers(
    name: &str,
    max: u64,
    per: Duration,
    retry_after: Duration,
) -> RateLimitHeaders {
    let name = sf_string(name);
    let wait = ceil_secs(retry_after).max(1);
    RateLimitHeaders {
        retry_after: Some(wait.to_string()),
        policy: format!("{name};q={max};w={}", ceil_secs(per).max(1)),
        ratelimit: format!("{name};r=0;t={wait}"),
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A structured-field string: printable ASCII only, `"` and `\` escaped.
fn sf_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(count: u64, burst: u64) -> GcraPolicy {
        GcraPolicy::new(count, Duration::from_secs(1), burst).expect("valid policy")
    }

    #[test]
    fn allowed_request_has_no_retry_after() {
        let p = policy(10, 20);
        let (d, _) = p.step(0, 5_000_000_000);
        let h = rate_limit_headers("per-client", &p, &d);
        assert_eq!(h.retry_after, None);
        assert_eq!(h.policy, "\"per-client\";q=20;w=2");
        assert_eq!(h.ratelimit, "\"per-client\";r=19;t=1");
    }

    #[test]
    fn window_refusal_states_quota_window_and_wait() {
        let h = window_headers(
            "w",
            100,
            Duration::from_secs(60),
            Duration::from_millis(1500),
        );
        assert_eq!(h.retry_after.as_deref(), Some("2"));
        assert_eq!(h.policy, "\"w\";q=100;w=60");
        assert_eq!(h.ratelimit, "\"w\";r=0;t=2");
    }

    #[test]
    fn denied_request_rounds_waits_up() {
        let p = policy(10, 1);
        let now = 5_000_000_000;
        let (_, tat) = p.step(0, now);
        let (d, _) = p.step(tat.expect("first request allowed"), now + 1);
        assert!(!d.allowed);
        let h = rate_limit_headers("a\"b\\c\u{e9}", &p, &d);
        assert_eq!(h.retry_after.as_deref(), Some("1"));
        assert_eq!(h.policy, "\"a\\\"b\\\\c?\";q=1;w=1");
        assert_eq!(h.ratelimit, "\"a\\\"b\\\\c?\";r=0;t=1");
    }
}
