//! Inbound messages: stored once by Plivo's `MessageUUID`, with the event that forwards them and the
//! opt-out change they ask for, all in one transaction.

use crate::store::db::{query, Db};

use super::messages::json_list;
use super::micros;
use super::optouts::apply_change;
use crate::store::{InboundOutcome, NewForward, NewInbound, OptOutChange, StoreError};

/// Stores `m` unless a message with its UUID is stored already (then nothing happens). A new message
/// also queues `forward` and applies `change`.
pub(crate) async fn record_inbound(
    conn: &mut dyn Db,
    m: &NewInbound,
    forward: Option<&NewForward>,
    change: Option<&OptOutChange>,
) -> Result<InboundOutcome, StoreError> {
    let at = micros(m.received_at);
    // The unique index on inbound UUIDs makes a repeat (even a concurrent one, on another instance)
    // insert nothing. The number columns hold the remote party and this service's number, as for
    // outbound messages (see the migration).
    let inserted = query(
        "INSERT INTO messages (id, status, recipient_number, sender_number, message_text, media_urls, \
         media_ids, message_uuid, created_at, updated_at, outcome_unknown, direction, ended_at) \
         VALUES ($1, 'delivered', $2, $3, $4, $5, '[]', $6, $7, $7, 0, 'inbound', $7) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&m.id)
    .bind(&m.from)
    .bind(&m.to)
    .bind(m.text.as_deref())
    .bind(json_list(&m.media_urls)?)
    .bind(&m.message_uuid)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    if inserted == 0 {
        return Ok(InboundOutcome::Repeat);
    }
    if let Some(forward) = forward {
        query(
            "INSERT INTO callback_events (event_id, message_id, seq, status, occurred_at, \
             next_attempt_at, attempts, kind, target_url, payload) \
             VALUES ($1, $2, 1, 'delivered', $3, $3, 0, 'inbound', $4, $5)",
        )
        .bind(&forward.event_id)
        .bind(&m.id)
        .bind(at)
        .bind(&forward.target_url)
        .bind(&forward.payload)
        .execute(&mut *conn)
        .await?;
    }
    let opt_out_changed = match change {
        Some(change) => apply_change(conn, change).await?,
        None => false,
    };
    Ok(InboundOutcome::Stored { opt_out_changed })
}
