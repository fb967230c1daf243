//! Resends (`POST /messages/{id}/resend`) and the links between a message and its resends.

use crate::store::db::{query, query_scalar, Db};
use chrono::{DateTime, Utc};

use super::messages::{insert_queued_for_delivery, status};
use crate::store::{MessageStatus, NewMessage, ResendOutcome, StoreError};

/// The event detail that marks a message which reached its deadline without a receipt.
pub(crate) const NO_RECEIPT: &str = "no_receipt";

/// Records a new message in the outbox with the content, recipient, sender and callback URL of
/// message `id`, linked to it by `resend_of` (no batch). Only a `failed` or `undelivered`
/// message that did not end with `no_receipt` can be resent.
pub(crate) async fn resend_message(
    conn: &mut dyn Db,
    id: &str,
    new_id: &str,
    now: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> Result<ResendOutcome, StoreError> {
    let row = query(
        "SELECT status, recipient_number, sender_number, message_text, media_urls, media_ids, \
         callback_url FROM messages WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(ResendOutcome::NotFound);
    };
    let current = status(row.try_get("status")?)?;
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
    let list = |column: &str| -> Result<Vec<String>, StoreError> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("media list: {e}")))
    };
    let message = NewMessage {
        id: new_id.to_owned(),
        recipient_number: row.try_get("recipient_number")?,
        sender_number: row.try_get("sender_number")?,
        message_text: row.try_get("message_text")?,
        media_urls: list("media_urls")?,
        media_ids: list("media_ids")?,
        callback_url: row.try_get("callback_url")?,
        batch_id: None,
        created_at: now,
    };
    insert_queued_for_delivery(conn, &message, deadline).await?;
    query("UPDATE messages SET resend_of = $2 WHERE id = $1")
        .bind(new_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(ResendOutcome::Created(Box::new(message)))
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
