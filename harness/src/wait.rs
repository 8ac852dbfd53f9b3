//! Waiting on conditions with a bounded deadline instead of sleeping.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often conditions are polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Polls `check` until it returns `Some`, or fails after `within`.
pub async fn until<T, F, Fut>(what: &str, within: Duration, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {within:?} waiting for {what}"));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
