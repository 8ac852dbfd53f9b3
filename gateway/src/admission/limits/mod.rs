//! Traffic limits.
//!
//! `gcra` is the per-key rate limit arithmetic (Generic Cell Rate
//! Algorithm) and `limiter` its front end. `store` holds per-key state
//! behind the [`GcraStore`] trait, with a bounded in-process implementation.
//! `clock` is the monotonic time source the limiter reads (a fake one for
//! tests), and `headers` renders `Retry-After` and `RateLimit`/
//! `RateLimit-Policy` values from a decision. See `docs/LIMITS.md`.
//!
//! The configured limits: `key` builds a request's limit key, `window` and
//! `inflight` are the sliding-window and concurrency limits on
//! pingora-limits, `compiled` holds the limits of a generation (and what a
//! reload keeps), `check` is the one request-time check, called from
//! `request_filter` after the route match, and `metrics` their metrics.

pub(crate) mod check;
pub(crate) mod clock;
pub(crate) mod compiled;
pub(crate) mod gcra;
pub(crate) mod headers;
pub(crate) mod inflight;
pub(crate) mod key;
pub(crate) mod limiter;
pub(crate) mod metrics;
pub(crate) mod store;
pub(crate) mod window;

pub use clock::{Clock, FakeClock};
pub(crate) use compiled::{GenerationLimits, RouteLimits};
pub use gcra::{Decision, GcraPolicy};
pub use inflight::Permits;
pub use key::KeyInput;
pub use limiter::GcraLimiter;
pub use store::ShardedStore;
