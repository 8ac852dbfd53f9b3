//! A cheap monotonic millisecond clock for state kept in atomics (passive
//! ejection deadlines, health-check schedules).

use std::sync::LazyLock;
use std::time::Instant;

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Milliseconds since the first call, plus one: never 0, so 0 can mean
/// "unset" in an atomic.
pub(super) fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64 + 1
}
