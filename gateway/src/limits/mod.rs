//! Traffic limits.
//!
//! `gcra` is the per-key rate limiter (Generic Cell Rate Algorithm): the
//! policy arithmetic and the limiter front end. `store` holds per-key state
//! behind the [`GcraStore`] trait, with a bounded in-process implementation.
//! `clock` is the monotonic time source the limiter reads (a fake one for
//! tests), and `headers` renders `Retry-After` and `RateLimit`/
//! `RateLimit-Policy` values from a decision. See `docs/LIMITS.md`.
//!
//! Nothing here touches Pingora or the request; `proxy.rs` is meant to call
//! [`GcraLimiter::check`] from `request_filter` and turn a denial into a 429
//! with [`rate_limit_headers`].

pub mod clock;
pub mod gcra;
pub mod headers;
pub mod store;

pub use clock::{Clock, CounterClock, FakeClock, MonotonicClock};
pub use gcra::{Decision, GcraLimiter, GcraPolicy, PolicyError};
pub use headers::{rate_limit_headers, RateLimitHeaders};
pub use store::{GcraStore, ShardedStore};
