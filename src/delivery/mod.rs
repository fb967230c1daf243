//! Delivering messages: recording each one in the store and following it through Plivo.
//!
//! The synchronous path ([`Delivery::send_now`]) records the message, calls Plivo (with retries)
//! and records the outcome before answering. The asynchronous path ([`Delivery::enqueue`]) only
//! records; delivery workers (`worker.rs`) take messages from the store's outbox later.

pub mod bulk;
pub mod callbacks;
pub mod fleet;
// --- reconciliation ---
pub mod reconcile;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;

use crate::dispatch::Dispatcher;
use crate::domain::OutboundMms;
use crate::plivo::{PlivoError, Sent};
use crate::store::{MessageStatus, MessageStore, NewMessage, StatusUpdate, StoreError};

/// Why a synchronous send did not end in Plivo's acceptance.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Plivo's refusal or unavailability (already recorded on the message).
    #[error(transparent)]
    Plivo(#[from] PlivoError),
    /// The store failed; nothing was sent if it failed before the call to Plivo.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The store and the Plivo dispatcher, used together.
#[derive(Clone)]
pub struct Delivery {
    store: Arc<dyn MessageStore>,
    dispatcher: Dispatcher,
    message_ttl: Duration,
    work_arrived: Arc<Notify>,
}

impl Delivery {
    /// Combines a store and a dispatcher; asynchronous messages expire after `message_ttl`.
    pub fn new(
        store: Arc<dyn MessageStore>,
        dispatcher: Dispatcher,
        message_ttl: Duration,
    ) -> Self {
        Self {
            store,
            dispatcher,
            message_ttl,
            work_arrived: Arc::new(Notify::new()),
        }
    }

    /// The message store.
    pub fn store(&self) -> &Arc<dyn MessageStore> {
        &self.store
    }

    /// The Plivo dispatcher.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// Woken when messages are enqueued, so an idle worker starts at once.
    pub fn work_arrived(&self) -> &Arc<Notify> {
        &self.work_arrived
    }

    /// Records messages for asynchronous delivery; once this returns they are durably stored.
    pub async fn enqueue(&self, records: &[NewMessage]) -> Result<(), StoreError> {
        let deadline = Utc::now()
            + chrono::Duration::from_std(self.message_ttl).unwrap_or(chrono::Duration::hours(3));
        self.store.enqueue_messages(records, deadline).await?;
        self.work_arrived.notify_one();
        Ok(())
    }

    /// The record for `mms`, before it is stored.
    pub fn new_record(
        &self,
        id: String,
        mms: &OutboundMms,
        callback_url: Option<String>,
        batch_id: Option<String>,
    ) -> NewMessage {
        NewMessage {
            id,
            recipient_number: mms.to.as_str().to_owned(),
            sender_number: self.dispatcher.sender_number().to_owned(),
            message_text: mms.text.as_ref().map(|t| t.as_str().to_owned()),
            media_urls: mms
                .media
                .urls()
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect(),
            media_ids: mms
                .media
                .ids()
                .iter()
                .map(|i| i.as_str().to_owned())
                .collect(),
            callback_url,
            batch_id,
            created_at: Utc::now(),
        }
    }

    /// Records the message, sends it now, and records what Plivo answered.
    pub async fn send_now(&self, record: NewMessage, mms: &OutboundMms) -> Result<Sent, SendError> {
        let id = record.id.clone();
        self.store.insert_sending(&record).await?;
        let result = self.dispatcher.send(mms).await;
        if let Err(e) = self.record_outcome(&id, &result).await {
            // Plivo has answered: the caller must hear that answer, not a store error it would
            // retry (a retry could send the message twice). The record stays `sending`.
            tracing::error!(message.id = %id, error = %e, "could not record Plivo's answer");
        }
        Ok(result?)
    }

    /// Writes the outcome of a call to Plivo on the message.
    async fn record_outcome(
        &self,
        id: &str,
        result: &Result<Sent, PlivoError>,
    ) -> Result<(), StoreError> {
        match result {
            Ok(sent) => {
                let mut queued = update(MessageStatus::Queued);
                queued.message_uuid = sent.response.message_uuid.first().cloned();
                self.store.update_status(id, &queued).await?;
                if sent.uncertain {
                    let detail = "an earlier attempt timed out after it was sent: Plivo may have queued this message twice";
                    self.store
                        .mark_outcome_unknown(id, detail, Utc::now())
                        .await?;
                }
            }
            Err(e) if e.outcome_unknown() => {
                // Plivo may have accepted it: say so rather than guess.
                self.store
                    .mark_outcome_unknown(id, &e.to_string(), Utc::now())
                    .await?;
            }
            Err(e) => {
                let mut failed = update(MessageStatus::Failed);
                failed.error_code = Some(failure_code(e).to_owned());
                failed.error_message = Some(failure_text(e));
                self.store.update_status(id, &failed).await?;
            }
        }
        Ok(())
    }
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

/// Plivo's own words when it refused; otherwise what went wrong.
pub(crate) fn failure_text(e: &PlivoError) -> String {
    match e {
        PlivoError::Rejected { message, .. } | PlivoError::AuthFailed { message, .. } => {
            message.clone()
        }
        other => other.to_string(),
    }
}

/// The error code recorded on a message Plivo did not take.
pub(crate) fn failure_code(e: &PlivoError) -> &'static str {
    match e {
        PlivoError::Rejected { .. } => "provider_rejected",
        PlivoError::AuthFailed { .. } => "provider_auth_failed",
        PlivoError::Unavailable { .. } => "provider_unavailable",
        PlivoError::Unexpected(_) => "provider_error",
        PlivoError::Timeout => "provider_timeout",
    }
}
