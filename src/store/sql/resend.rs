//! Resends (`POST /messages/{id}/resend`) and the links between a message and its resends.

use crate::store::db::{query, query_scalar, Db};
use chrono::{DateTime, Utc};

use super::callbacks::queue_event;
use super::micros;
use super::status;
use crate::store::{MessageStatus, ResendOutcome, StoreError};

/// The event detail that marks a message which reached its deadline without a receipt.
pub(crate) const NO_RECEIPT: &str = "no_receipt";

/// Records a new message `new_id` in the outbox with the content, recipient, sender and callback
/// URL of message `id`, linked to it by `resend_of` (no batch). Only a `failed` or `undelivered`
/// message that did not end with `no_receipt` can be resent.
pub(crate) async fn resend_message(
    conn: &mut dyn Db,
    id: &str,
    new_id: &str,
    now: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> Result<ResendOutcome, StoreError> {
    let current: Option<String> = query_scalar("SELECT status FROM messages WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(current) = current else {
        return Ok(ResendOutcome::NotFound);
    };
    let current = status(&current)?;
    if !matches!(current, MessageStatus::Failed | MessageStatus::Undelivered) {
        return Ok(ResendOutcome::NotResendable(current));
    }
    let no_receipt: i64 =
        query_scalar("SELECT COUNT(*) FROM message_events WHERE message_id = $1 AND detail = $2")
            .bind(id)
            .bind(NO_RECEIPT)
            .fetch_one(&mut *conn)
            .await?;
    if no_receipt > 0 {
        return Ok(ResendOutcome::NotResendable(current));
    }
    // The copy is made in SQL from the stored row, so it is exactly what was sent before.
    let created = micros(now);
    query(
        "INSERT INTO messages (id, status, recipient_number, sender_number, message_text, media_urls, \
         media_ids, callback_url, batch_id, created_at, updated_at, outcome_unknown, next_attempt_at, \
         deadline_at, resend_of) \
         SELECT $1, 'accepted', recipient_number, sender_number, message_text, media_urls, media_ids, \
         callback_url, NULL, $3, $3, 0, $3, $4, id FROM messages WHERE id = $2",
    )
    .bind(new_id)
    .bind(id)
    .bind(created)
    .bind(micros(deadline))
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::on_unique(e, StoreError::DuplicateId))?;
    query(
        "INSERT INTO message_events (message_id, seq, status, at) VALUES ($1, 1, 'accepted', $2)",
    )
    .bind(new_id)
    .bind(created)
    .execute(&mut *conn)
    .await?;
    queue_event(
        conn,
        new_id,
        Some(1),
        MessageStatus::Accepted,
        created,
        None,
    )
    .await?;
    Ok(ResendOutcome::Created(new_id.to_owned()))
}

/// The message `id` resends (if any) and its own resends, oldest first.
pub(crate) async fn resend_links(
    conn: &mut dyn Db,
    id: &str,
) -> Result<(Option<String>, Vec<String>), StoreError> {
    let resend_of: Option<String> =
        query_scalar::<Option<String>>("SELECT resend_of FROM messages WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .flatten();
    let rows = query("SELECT id FROM messages WHERE resend_of = $1 ORDER BY created_at, id")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    let resent_as = rows
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<Vec<String>, StoreError>>()?;
    Ok((resend_of, resent_as))
}
