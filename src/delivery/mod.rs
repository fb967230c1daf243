//! Delivering messages accepted for later: the store's outbox, the delivery workers
//! (`worker.rs`) that take messages from it and send them through Plivo, the fleet of instances
//! sharing Plivo's limits (`fleet.rs`), and the status events posted to callers (`callbacks.rs`);
//! the workers and the status events share one poll loop (`poller.rs`).
//!
//! The send use case itself (checks, recording, the synchronous call) lives in [`crate::send`].

pub mod bulk;
pub mod callbacks;
pub mod fleet;
// --- per-sender pacing ---
pub mod pacing;
mod poller;
// --- resend ---
mod resend;
// --- reconciliation ---
pub mod reconcile;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;

use crate::plivo::RetryingSender;
use crate::store::{MessageStatus, NewMessage, StatusUpdate, Store, StoreError};

/// The store and the Plivo client, shared by the send service and the delivery workers.
#[derive(Clone)]
pub struct Delivery {
    store: Arc<Store>,
    plivo: RetryingSender,
    message_ttl: Duration,
    work_arrived: Arc<Notify>,
    // --- sender pool and pacing ---
    /// `PLIVO_SENDER_NUMBER`'s numbers (or a Powerpack): each recipient's sender.
    senders: crate::senders::SenderPool,
    /// `PLIVO_SENDER_MPS` and `SYNC_SLOT_WAIT_MS`, when set (`pacing.rs`).
    pacing: Option<(crate::senders::SenderPacing, Duration)>,
}

impl Delivery {
    /// Combines a store and the Plivo client; asynchronous messages expire after `message_ttl`.
    pub fn new(store: Arc<Store>, plivo: RetryingSender, message_ttl: Duration) -> Self {
        Self {
            store,
            plivo,
            message_ttl,
            work_arrived: Arc::new(Notify::new()),
            senders: crate::senders::SenderPool::new(Vec::new(), None),
            pacing: None,
        }
    }

    // --- reconciliation ---
    /// `MESSAGE_TTL_SECONDS`: every message's deadline after its creation.
    pub fn message_ttl(&self) -> Duration {
        self.message_ttl
    }

    /// The message store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Plivo, with retries and within its limits.
    pub fn plivo(&self) -> &RetryingSender {
        &self.plivo
    }

    /// Woken when messages are enqueued, so an idle worker starts at once.
    pub fn work_arrived(&self) -> &Arc<Notify> {
        &self.work_arrived
    }

    /// Records messages for asynchronous delivery; once this returns they are durably stored.
    pub async fn enqueue(&self, records: &[NewMessage]) -> Result<(), StoreError> {
        let deadline = Utc::now()
            + chrono::Duration::from_std(self.message_ttl).unwrap_or(chrono::Duration::hours(3));
        match &self.pacing {
            Some((pacing, _)) => self.enqueue_paced(pacing, records, deadline).await?,
            None => self.store.enqueue_messages(records, deadline).await?,
        }
        self.work_arrived.notify_one();
        Ok(())
    }
}

/// The end of a message that Plivo did not accept before its deadline (`MESSAGE_TTL_SECONDS`):
/// `failed` with `expired`, now. The workers and the synchronous path both end messages so.
pub fn expired() -> StatusUpdate {
    let mut failed = update(MessageStatus::Failed);
    failed.error_code = Some("expired".to_owned());
    failed.error_message = Some("not accepted by Plivo within MESSAGE_TTL_SECONDS".to_owned());
    failed
}

/// A status change happening now.
pub fn update(status: MessageStatus) -> StatusUpdate {
    StatusUpdate {
        status,
        message_uuid: None,
        error_code: None,
        error_message: None,
        at: Utc::now(),
    }
}
