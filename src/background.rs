//! The service's background tasks: delivery workers, the fleet heartbeat, status events for
//! callers, the retention purge (`src/retention/`); started with the server and stopped with it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::delivery::worker::{self, WorkerConfig};
use crate::delivery::{callbacks, fleet, reconcile};
use crate::http::AppState;
use crate::metrics::{Metrics, MetricsSource};
use crate::plivo::Limiter;
use crate::store::Store;

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
            // --- per-sender pacing: a due slot is taken up within 100 ms, not 250 ---
            poll: Duration::from_millis(if state.delivery.pacing().is_some() {
                100
            } else {
                250
            }),
            slot_wait,
            plivo_log: state.config.reconcile.plivo_log,
        };
        let worker = tokio::spawn(worker::run(
            state.delivery.clone(),
            worker_config,
            stop.clone(),
        ));
        let (stop_heartbeat, heartbeat_stop) = watch::channel(false);
        let reconcile_limiter = limiter.clone();
        let heartbeat = tokio::spawn(fleet::run(store.clone(), limiter, instance, heartbeat_stop));
        let others = vec![
            tokio::spawn(callbacks::run(
                store.clone(),
                state.config.delivery.webhook_signing_secret.clone(),
                state.config.delivery.callback_allow_private,
                state.config.callback_retry_window,
                stop.clone(),
            )),
            // --- retention ---
            tokio::spawn(crate::retention::run(
                store.clone(),
                state.config.retention.clone(),
                state.metrics.clone(),
                stop.clone(),
            )),
        ];
        // --- reconciliation ---
        let mut others = others;
        match crate::plivo::PlivoClient::new(&state.config.plivo) {
            Ok(client) => {
                let plivo = &state.config.plivo;
                // The longest a synchronous send can take: every attempt with its wait for a slot,
                // every backoff, and a margin; a send still `sending` after that has no process.
                let attempts = plivo.max_retries + 1;
                let stalled_after = (plivo.timeout + crate::plivo::send::SYNC_SLOT_WAIT) * attempts
                    + crate::plivo::retry::MAX_DELAY * plivo.max_retries
                    + Duration::from_secs(30);
                let reconciler = reconcile::Reconciler {
                    store,
                    api: Arc::new(client),
                    limiter: reconcile_limiter,
                    config: state.config.reconcile.clone(),
                    message_ttl: state.config.delivery.message_ttl,
                    stalled_after,
                    metrics: state.metrics.clone(),
                    // One check: a slot in the budget and a list request or two.
                    lease: plivo.timeout * 2 + Duration::from_secs(5),
                    powerpack_uuid: state.config.senders.powerpack_uuid.clone(),
                };
                others.push(tokio::spawn(reconcile::run(reconciler, stop.clone())));
            }
            Err(e) => tracing::error!(error = %e, "could not build the reconciler's Plivo client"),
        }
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

/// The store's numbers for `GET /metrics`.
pub struct StoreMetrics(pub Arc<Store>);

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
                let age = stats.oldest_waiting_age_seconds(Utc::now());
                metrics.set_oldest_undelivered_age_seconds(age);
            }
            Err(e) => tracing::warn!(error = %e, "could not read the store's numbers for metrics"),
        }
        // --- per-sender pacing ---
        match self.0.waiting_for_sender(Utc::now()).await {
            Ok(n) => metrics.set_waiting_for_sender(n),
            Err(e) => tracing::warn!(error = %e, "could not count messages waiting for a sender"),
        }
    }
}
