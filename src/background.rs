//! The service's background tasks: delivery workers, the fleet heartbeat, status events for
//! callers, the purge of old idempotency keys; started with the server and stopped with it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::delivery::worker::{self, WorkerConfig};
use crate::delivery::{callbacks, fleet};
use crate::http::AppState;
use crate::metrics::{Metrics, MetricsSource};
use crate::plivo::Limiter;
use crate::store::MessageStore;

/// How often expired idempotency keys are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Running background tasks.
pub struct Background {
    worker: JoinHandle<()>,
    others: Vec<JoinHandle<()>>,
}

impl Background {
    /// Starts every task; each stops when `stop` turns true.
    pub fn start(
        state: &AppState,
        limiter: Arc<Limiter>,
        instance: String,
        stop: &watch::Receiver<bool>,
    ) -> Self {
        let store = state.delivery.store().clone();
        let timeout = state.config.plivo.timeout;
        let worker_config = WorkerConfig {
            owner: instance.clone(),
            // One attempt (plus waiting for a slot) always ends well before the lease does.
            lease: timeout * 2 + Duration::from_secs(35),
            concurrency: state.config.delivery.max_concurrency as usize,
            poll: Duration::from_millis(250),
            slot_wait: Duration::from_secs(30),
        };
        let worker = tokio::spawn(worker::run(
            state.delivery.clone(),
            worker_config,
            stop.clone(),
        ));
        let others = vec![
            tokio::spawn(fleet::run(store.clone(), limiter, instance, stop.clone())),
            tokio::spawn(callbacks::run(
                store.clone(),
                state.config.delivery.webhook_signing_secret.clone(),
                stop.clone(),
            )),
            tokio::spawn(purge_expired_keys(store)),
        ];
        Self { worker, others }
    }

    /// Waits (at most `grace`) for in-flight sends to finish; what is left stays leased and is
    /// taken up again when the lease runs out, here or on another instance.
    pub async fn finish(self, grace: Duration) {
        let worker = self.worker;
        let aborter = worker.abort_handle();
        if tokio::time::timeout(grace, worker).await.is_err() {
            tracing::warn!(
                grace_seconds = grace.as_secs(),
                "in-flight sends did not finish in time; their leases will expire"
            );
            aborter.abort();
        }
        for task in &self.others {
            if !task.is_finished() {
                // The heartbeat leaves the fleet on stop; give it a moment.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        for task in self.others {
            task.abort();
        }
    }
}

/// Deletes idempotency keys older than 24 hours, once an hour.
async fn purge_expired_keys(store: Arc<dyn MessageStore>) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    loop {
        every.tick().await;
        let cutoff = Utc::now() - chrono::Duration::hours(24);
        match store.purge_expired_idempotency_keys(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired idempotency keys deleted"),
            Err(e) => tracing::warn!(error = %e, "could not purge expired idempotency keys"),
        }
    }
}

/// The store's numbers for `GET /metrics`.
pub struct StoreMetrics(pub Arc<dyn MessageStore>);

#[async_trait]
impl MetricsSource for StoreMetrics {
    async fn refresh(&self, metrics: &Metrics) {
        match self.0.outbox_stats().await {
            Ok(stats) => {
                let counts: Vec<(&str, i64)> = stats
                    .by_status
                    .iter()
                    .map(|(s, n)| (s.as_str(), *n))
                    .collect();
                metrics.set_messages_by_status(&counts);
                metrics.set_queue_depth(stats.depth);
                let age = stats.oldest_waiting.map_or(0.0, |at| {
                    (Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0
                });
                metrics.set_oldest_undelivered_age_seconds(age);
            }
            Err(e) => tracing::warn!(error = %e, "could not read the store's numbers for metrics"),
        }
    }
}
