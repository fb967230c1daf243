//! Resending a message that failed (`POST /messages/{id}/resend`).

use chrono::Utc;

use super::Delivery;
use crate::store::{ResendOutcome, StoreError};

impl Delivery {
    /// Creates a new message (id `new_id`) with the content, recipient, sender and callback URL of
    /// message `id`, linked to it, in the outbox with a full `MESSAGE_TTL_SECONDS`.
    pub async fn resend(&self, id: &str, new_id: &str) -> Result<ResendOutcome, StoreError> {
        let now = Utc::now();
        let deadline = now
            + chrono::Duration::from_std(self.message_ttl).unwrap_or(chrono::Duration::hours(3));
        let outcome = self.store.resend_message(id, new_id, now, deadline).await?;
        if matches!(outcome, ResendOutcome::Created(_)) {
            self.work_arrived.notify_one();
        }
        Ok(outcome)
    }
}
