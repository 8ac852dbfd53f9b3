//! How many requests the gateway process under test must have counted, from
//! what the driver sent it: the signal that its metrics are settled (the
//! gateway counts a request in its logging phase, just after the client got
//! the response).

use std::fmt;

/// Requests sent to the current gateway process. Every request that
/// reached the server counts (answered, timed out or aborted); refused
/// connections do not. A successor process after an upgrade starts from
/// zero; background load that ran across the upgrade was split between the
/// two processes, so it only widens the accepted range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct RequestLedger {
    /// Requests this process certainly received.
    known: u64,
    /// Requests it may or may not have received.
    uncertain: u64,
}

impl RequestLedger {
    /// Requests that certainly reached this process.
    pub(super) fn add(&mut self, requests: usize) {
        self.known += requests as u64;
    }

    /// Requests that reached this process or its predecessor.
    pub(super) fn add_uncertain(&mut self, requests: usize) {
        self.uncertain += requests as u64;
    }

    /// A new process took over (it counts from zero).
    pub(super) fn restart(&mut self) {
        *self = RequestLedger::default();
    }

    /// Whether `counted` (the sum of `gateway_requests_total`) accounts for
    /// everything sent. With load still running only the lower bound is
    /// known.
    pub(super) fn settled(&self, counted: u64, load_running: bool) -> bool {
        counted >= self.known && (load_running || counted <= self.known + self.uncertain)
    }
}

impl fmt::Display for RequestLedger {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.uncertain == 0 {
            write!(f, "{}", self.known)
        } else {
            write!(f, "{} to {}", self.known, self.known + self.uncertain)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settles_on_exactly_what_was_sent() {
        let mut ledger = RequestLedger::default();
        ledger.add(100);
        assert!(!ledger.settled(99, false));
        assert!(ledger.settled(100, false));
        assert!(!ledger.settled(101, false), "more than was sent");
        assert!(ledger.settled(130, true), "load still running");
    }

    #[test]
    fn a_successor_counts_from_zero_and_straddling_load_widens_the_range() {
        let mut ledger = RequestLedger::default();
        ledger.add(500);
        ledger.restart();
        ledger.add(100);
        ledger.add_uncertain(40);
        assert_eq!(ledger.to_string(), "100 to 140");
        assert!(!ledger.settled(99, false));
        assert!(ledger.settled(100, false));
        assert!(ledger.settled(140, false));
        assert!(!ledger.settled(141, false));
    }
}
