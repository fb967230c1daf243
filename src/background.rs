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
    /// The heartbeat outlives the worker: an instance still sending keeps its share of the
    /// limits until its last send, so that the others do not take the whole account too early.
    heartbeat: JoinHandle<()>,
    stop_heartbeat: watch::Sender<bool>,
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
        // One attempt (plus waiting for a slot) always ends well before the lease does; a shorter
        // lease (DELIVERY_LEASE_SECONDS, for tests) shortens the wait for a slot with it.
        let lease = state
            .config
            .delivery
            .lease
            .unwrap_or(timeout * 2 + Duration::from_secs(35));
        let slot_wait = lease
            .saturating_sub(timeout * 2 + Duration::from_secs(5))
            .clamp(Duration::from_secs(1), Duration::from_secs(30));
        let worker_config = WorkerConfig {
            owner: instance.clone(),
            lease,
            concurrency: (state.config.delivery.max_concurrency as usize).min(256),
            poll: Duration::from_millis(250),
            slot_wait,
        };
        let worker = tokio::spawn(worker::run(
            state.delivery.clone(),
            worker_config,
            stop.clone(),
        ));
        let (stop_heartbeat, heartbeat_stop) = watch::channel(false);
        let heartbeat = tokio::spawn(fleet::run(store.clone(), limiter, instance, heartbeat_stop));
        let others = vec![
            tokio::spawn(callbacks::run(
                store.clone(),
                state.config.delivery.webhook_signing_secret.clone(),
                state.config.delivery.callback_allow_private,
                stop.clone(),
            )),
            tokio::spawn(purge_expired_keys(store)),
        ];
        Self {
            worker,
            heartbeat,
            stop_heartbeat,
            others,
        }
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
        // Only now leave the fleet (bounded: one heartbeat and the leave itself).
        let _ = self.stop_heartbeat.send(true);
        let heartbeat = self.heartbeat;
        let aborter = heartbeat.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), heartbeat)
            .await
            .is_err()
        {
            aborter.abort();
        }
        for task in &self.others {
            if !task.is_finished() {
                // Let them see the stop; give them a moment.
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
                // --- console: GET /stats shares this computation ---
                let age =
                    crate::http::routes::stats::oldest_undelivered_age_seconds(&stats, Utc::now());
                metrics.set_oldest_undelivered_age_seconds(age);
            }
            Err(e) => tracing::warn!(error = %e, "could not read the store's numbers for metrics"),
        }
    }
}
