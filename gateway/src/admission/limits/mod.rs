//! Traffic limits.
//!
//! `gcra` is the per-key rate limiter (Generic Cell Rate Algorithm): the
//! policy arithmetic and the limiter front end. `store` holds per-key state
//! behind the [`GcraStore`] trait, with a bounded in-process implementation.
//! `clock` is the monotonic time source the limiter reads (a fake one for
//! tests), and `headers` renders `Retry-After` and `RateLimit`/
//! `RateLimit-Policy` values from a decision. See `docs/LIMITS.md`.
//!
//! The configured limits: `key` builds a request's limit key, `window` and
//! `inflight` are the sliding-window and concurrency limits on
//! pingora-limits, `compiled` holds the limits of a generation (and what a
//! reload keeps), `admission` is the one request-time check, called from
//! `request_filter` after the route match, and `metrics` their metrics.

pub mod admission;
pub mod clock;
pub mod compiled;
pub mod gcra;
pub mod headers;
pub mod inflight;
pub mod key;
pub mod metrics;
pub mod store;
pub mod window;

pub use clock::{Clock, CounterClock, FakeClock, MonotonicClock};
pub use compiled::{GenerationLimits, RouteLimits};
pub use gcra::{Decision, GcraLimiter, GcraPolicy, PolicyError};
pub use headers::{rate_limit_headers, RateLimitHeaders};
pub use inflight::Permits;
pub use key::KeyInput;
pub use store::{GcraStore, ShardedStore};
