//! Retention (README "Retention"): the background purge that deletes ended messages older than
//! `RETENTION_DAYS`, redacts those older than `REDACT_AFTER_DAYS`, and forgets idempotency keys
//! after 24 hours and used webhook nonces after their window.
//!
//! It runs at start and then every `PURGE_INTERVAL_SECONDS`, in small batches, each its own short
//! transaction, with a pause after each one as long as the batch took: the purge never holds the
//! store (the SQLite writer thread above all) for more than one batch at a time, so sends during a
//! purge keep their latency. The batch size adapts to keep each batch near [`TARGET_BATCH_TIME`].

pub use crate::metrics::RetentionMetrics;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::config::retention::RetentionConfig;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError, IDEMPOTENCY_TTL, NONCE_RETENTION};

/// What one batch should take at most.
const TARGET_BATCH_TIME: Duration = Duration::from_millis(10);
/// Batch sizes the purge moves between.
const MIN_BATCH: u32 = 10;
const MAX_BATCH: u32 = 500;
const FIRST_BATCH: u32 = 100;
/// The shortest pause between two batches.
const MIN_PAUSE: Duration = Duration::from_millis(2);

/// What one run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeRun {
    /// Messages deleted (with their events, caller events and attempts).
    pub messages: u64,
    /// Messages redacted.
    pub redacted: u64,
    /// Idempotency keys and used nonces deleted.
    pub keys: u64,
}

/// Runs the purge at start and then every `config.purge_interval` until `stop` turns true.
pub async fn run(
    store: Arc<Store>,
    config: RetentionConfig,
    metrics: Metrics,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let started = Instant::now();
        match purge_once(&store, &config, Utc::now(), &stop).await {
            Ok(run) => {
                let m = metrics.retention();
                m.record_purged("messages", run.messages);
                m.record_purged("idempotency_keys_and_nonces", run.keys);
                m.record_redacted(run.redacted);
                m.set_last_purge(Utc::now().timestamp_micros() as f64 / 1e6);
                tracing::info!(
                    messages_deleted = run.messages,
                    messages_redacted = run.redacted,
                    keys_deleted = run.keys,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "retention.purge"
                );
            }
            Err(error) => tracing::warn!(%error, "retention.purge_failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(config.purge_interval) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// One run at `now`: every batch until nothing is left (or `stop` turns true). Each kind of row
/// is counted as it goes.
pub async fn purge_once(
    store: &Store,
    config: &RetentionConfig,
    now: DateTime<Utc>,
    stop: &watch::Receiver<bool>,
) -> Result<PurgeRun, StoreError> {
    let mut run = PurgeRun::default();
    let mut pacer = Pacer::new();
    let ended_before = before(now, config.retention);
    run.messages = batches(&mut pacer, stop, |limit| {
        store.purge_ended_messages(ended_before, limit)
    })
    .await?;
    if let Some(redact_after) = config.redact_after {
        let ended_before = before(now, redact_after);
        run.redacted = batches(&mut pacer, stop, |limit| {
            store.redact_ended_messages(ended_before, limit)
        })
        .await?;
    }
    let (keys_before, nonces_before) = (now - IDEMPOTENCY_TTL, now - NONCE_RETENTION);
    run.keys = batches(&mut pacer, stop, |limit| {
        store.purge_expired_keys(keys_before, nonces_before, limit)
    })
    .await?;
    Ok(run)
}

/// Runs `batch` until it removes fewer rows than asked (nothing left) or `stop` turns true; the
/// total it removed.
async fn batches<F, Fut>(
    pacer: &mut Pacer,
    stop: &watch::Receiver<bool>,
    mut batch: F,
) -> Result<u64, StoreError>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        if *stop.borrow() {
            return Ok(total);
        }
        let limit = pacer.size;
        let started = Instant::now();
        let done = batch(limit).await?;
        total += done;
        let took = started.elapsed();
        pacer.adapt(took);
        if done < u64::from(limit) {
            return Ok(total);
        }
        // Give the store back to everyone else for at least as long as the batch held it.
        tokio::time::sleep(took.max(MIN_PAUSE)).await;
    }
}

/// Keeps batches near [`TARGET_BATCH_TIME`]: halves the size after a slow batch, grows it by a
/// quarter after a quick one.
struct Pacer {
    size: u32,
}

impl Pacer {
    fn new() -> Self {
        Pacer { size: FIRST_BATCH }
    }

    fn adapt(&mut self, took: Duration) {
        self.size = if took > TARGET_BATCH_TIME {
            self.size / 2
        } else if took < TARGET_BATCH_TIME / 2 {
            self.size + self.size / 4 + 1
        } else {
            self.size
        }
        .clamp(MIN_BATCH, MAX_BATCH);
    }
}

/// `d` before `now` (the earliest time there is, should that be out of range).
fn before(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_shrink_when_slow_and_grow_when_quick() {
        let mut p = Pacer::new();
        p.adapt(Duration::from_millis(50));
        assert_eq!(p.size, FIRST_BATCH / 2);
        for _ in 0..20 {
            p.adapt(Duration::from_millis(100));
        }
        assert_eq!(p.size, MIN_BATCH);
        for _ in 0..100 {
            p.adapt(Duration::from_millis(1));
        }
        assert_eq!(p.size, MAX_BATCH);
        p.adapt(Duration::from_millis(7));
        assert_eq!(p.size, MAX_BATCH);
    }
}
