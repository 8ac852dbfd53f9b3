//! `flapping`: a mock that alternates between up and down on a schedule
//! expanded from the scenario seed (printed, so a failure can be replayed).

use super::MockUpstream;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Alternating (up, down) phase lengths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlapSchedule {
    /// Each cycle: how long the mock stays up, then down.
    pub cycles: Vec<(Duration, Duration)>,
}

impl FlapSchedule {
    /// `cycles` phases with lengths drawn uniformly from `min..=max`
    /// (milliseconds) by a ChaCha8 generator seeded with `seed`.
    pub fn from_seed(seed: u64, cycles: usize, min: Duration, max: Duration) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (lo, hi) = (
            min.as_millis() as u64,
            max.as_millis().max(min.as_millis()) as u64,
        );
        let mut draw = || Duration::from_millis(rng.gen_range(lo..=hi));
        FlapSchedule {
            cycles: (0..cycles).map(|_| (draw(), draw())).collect(),
        }
    }

    /// Total time the schedule takes.
    pub fn total(&self) -> Duration {
        self.cycles.iter().map(|(u, d)| *u + *d).sum()
    }
}

impl fmt::Display for FlapSchedule {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let parts: Vec<String> = self
            .cycles
            .iter()
            .map(|(u, d)| format!("up {}ms/down {}ms", u.as_millis(), d.as_millis()))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// Runs a schedule against a mock; the mock is up again at the end.
pub struct Flapper {
    task: JoinHandle<()>,
}

impl Flapper {
    /// Starts flapping `mock` now.
    pub fn spawn(mock: Arc<MockUpstream>, schedule: FlapSchedule) -> Self {
        let task = tokio::spawn(async move {
            for (up, down) in schedule.cycles {
                tokio::time::sleep(up).await;
                mock.down().await;
                tokio::time::sleep(down).await;
                if let Err(e) = mock.up().await {
                    log::error!("flapping mock {} could not come back up: {e}", mock.name());
                }
            }
        });
        Flapper { task }
    }

    /// Whether the schedule has run to its end.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits for the schedule to end.
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let (min, max) = (Duration::from_millis(100), Duration::from_millis(500));
        let a = FlapSchedule::from_seed(7, 4, min, max);
        assert_eq!(a, FlapSchedule::from_seed(7, 4, min, max));
        assert_ne!(a, FlapSchedule::from_seed(8, 4, min, max));
        assert!(a
            .cycles
            .iter()
            .all(|(u, d)| (min..=max).contains(u) && (min..=max).contains(d)));
    }
}
