//! The background service that runs each cluster's active health checks
//! (`crate::upstream::health`) when they are due and ends expired passive
//! ejections, following config reloads: it reads the live generation, so
//! the upstream stage never needs to know about it.

use super::state::GatewayState;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;
use std::time::Duration;

/// How often the service looks for clusters whose check is due.
const SCHEDULER_TICK: Duration = Duration::from_millis(50);

/// Background service that runs each cluster's checks when they are due,
/// following config reloads.
pub(crate) struct HealthService {
    state: Arc<GatewayState>,
}

impl HealthService {
    /// A service over the gateway's state.
    pub(crate) fn new(state: Arc<GatewayState>) -> Self {
        Self { state }
    }
}

#[async_trait]
impl BackgroundService for HealthService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            let generation = self.state.current();
            for cluster in generation.clusters.values() {
                cluster.end_expired_ejections();
                if cluster.health_check_due() {
                    let cluster = cluster.clone();
                    tokio::spawn(async move { cluster.run_health_check().await });
                }
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(SCHEDULER_TICK) => {}
            }
        }
    }
}
