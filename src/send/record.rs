//! What the store keeps of a send: the record before anything is sent, and the outcome of a
//! synchronous call to Plivo.

use chrono::Utc;

use crate::delivery::update;
use crate::domain::OutboundMms;
use crate::plivo::{PlivoError, Sent};
use crate::store::{MessageStatus, NewMessage, Store, StoreError};

/// A new message or batch id: a UUID v7, so ids sort by creation time and new rows land at the end
/// of the store's indexes (a random id would dirty a different index page for every message).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The record of `mms`, sent from `sender_number`, before it is stored.
pub fn new_record(
    mms: &OutboundMms,
    sender_number: String,
    callback_url: Option<String>,
    batch_id: Option<String>,
) -> NewMessage {
    NewMessage {
        id: new_id(),
        recipient_number: mms.to.clone(),
        sender_number,
        message_text: mms.text.clone(),
        media_urls: mms.media.urls().to_vec(),
        media_ids: mms.media.ids().to_vec(),
        callback_url,
        batch_id,
        created_at: Utc::now(),
    }
}

/// Writes the outcome of a synchronous call to Plivo on the message `id`.
pub async fn record_outcome(
    store: &Store,
    id: &str,
    result: &Result<Sent, PlivoError>,
) -> Result<(), StoreError> {
    match result {
        Ok(sent) => {
            let mut queued = update(MessageStatus::Queued);
            queued.message_uuid = sent.response.message_uuid.first().cloned();
            store.update_status(id, &queued).await?;
            if sent.uncertain {
                let detail = "an earlier attempt timed out after it was sent: Plivo may have queued this message twice";
                store.mark_outcome_unknown(id, detail, Utc::now()).await?;
            }
        }
        Err(e) if e.outcome_unknown() => {
            // Plivo may have accepted it: say so rather than guess.
            store
                .mark_outcome_unknown(id, &e.to_string(), Utc::now())
                .await?;
        }
        Err(e) => {
            let mut failed = update(MessageStatus::Failed);
            failed.error_code = Some(e.code().to_owned());
            failed.error_message = Some(e.record_text());
            store.update_status(id, &failed).await?;
        }
    }
    Ok(())
}
