//! `gateway_auth_failures_total{route,reason}`, in the default registry.

use prometheus::{register_int_counter_vec, IntCounter, IntCounterVec};
use std::sync::{LazyLock, OnceLock};

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// No credential where the route expects one.
    Missing,
    /// A credential that is malformed, unknown or wrongly signed, or whose
    /// claims (issuer, audience, not-before, subject) do not fit.
    Invalid,
    /// A token past its `exp` (plus `leeway`).
    Expired,
}

impl Reason {
    /// Every reason, in label order.
    pub(crate) const ALL: [Reason; 3] = [Reason::Missing, Reason::Invalid, Reason::Expired];

    /// The `reason` label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::Invalid => "invalid",
            Reason::Expired => "expired",
        }
    }
}

static AUTH_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    // A constant name: a registration failure is a programming error.
    register_int_counter_vec!(
        "gateway_auth_failures_total",
        "Requests refused with 401 by a route's auth, by reason.",
        &["route", "reason"]
    )
    .expect("metric registration")
});

/// One route's failure counters. Building them registers nothing; the
/// series a route's kind can produce are registered at 0 by
/// [`FailureCounters::activate`] when its generation goes live (a rejected
/// reload creates none), and each handle is resolved once.
pub(crate) struct FailureCounters {
    route: String,
    reasons: Vec<Reason>,
    handles: [OnceLock<IntCounter>; 3],
}

impl FailureCounters {
    /// Handles for `route`, for the reasons its kind can produce.
    pub(crate) fn new(route: &str, reasons: &[Reason]) -> Self {
        FailureCounters {
            route: route.to_string(),
            reasons: reasons.to_vec(),
            handles: Default::default(),
        }
    }

    fn handle(&self, reason: Reason) -> &IntCounter {
        self.handles[reason as usize]
            .get_or_init(|| AUTH_FAILURES.with_label_values(&[&self.route, reason.label()]))
    }

    /// Registers the route's series at 0.
    pub(crate) fn activate(&self) {
        for reason in &self.reasons {
            self.handle(*reason);
        }
    }

    /// Counts one failure.
    pub(crate) fn count(&self, reason: Reason) {
        self.handle(reason).inc();
    }
}
