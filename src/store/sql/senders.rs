//! Per-sender pacing (a GCRA slot schedule per sender, shared by every instance) and the
//! sender Plivo reports for Powerpack messages.

use std::time::Duration;

use crate::store::db::{query, query_scalar, Db};
use crate::store::dialect::Dialect;
use chrono::{DateTime, Utc};

use super::messages::insert_queued_for_delivery;
use super::{micros, time};
use crate::store::{NewMessage, SlotGrant, SlotRequest, StoreError};

fn interval_micros(interval: Duration) -> i64 {
    i64::try_from(interval.as_micros())
        .unwrap_or(i64::MAX)
        .max(1)
}

/// Reserves `count` consecutive slots of `sender` starting at `max(TAT, now)` if that is no later
/// than `latest`, moving the sender's TAT past them. On PostgreSQL the sender's row is
/// locked, so two instances reserving at once take turns on it.
pub(crate) async fn reserve_sender_slots(
    conn: &mut dyn Db,
    sender: &str,
    count: u32,
    interval: Duration,
    now: DateTime<Utc>,
    latest: DateTime<Utc>,
    dialect: Dialect,
) -> Result<SlotGrant, StoreError> {
    query("INSERT INTO sender_pacing (sender, tat) VALUES ($1, 0) ON CONFLICT (sender) DO NOTHING")
        .bind(sender)
        .execute(&mut *conn)
        .await?;
    let lock = dialect.for_update();
    let tat: i64 = query_scalar(&format!(
        "SELECT tat FROM sender_pacing WHERE sender = $1{lock}"
    ))
    .bind(sender)
    .fetch_one(&mut *conn)
    .await?;
    let start = tat.max(micros(now));
    if start > micros(latest) {
        return Ok(SlotGrant::Refused {
            free_at: time(start)?,
        });
    }
    let cost = interval_micros(interval).saturating_mul(i64::from(count.max(1)));
    query("UPDATE sender_pacing SET tat = $2 WHERE sender = $1")
        .bind(sender)
        .bind(start.saturating_add(cost))
        .execute(&mut *conn)
        .await?;
    Ok(SlotGrant::Granted { at: time(start)? })
}

/// Inserts messages into the outbox like `enqueue_messages`, each due at the slot reserved for
/// its request (in the same transaction, so no worker sees them unpaced). A request whose slot
/// would start after `deadline` reserves nothing: its messages are due at the deadline, when they
/// fail with `expired`.
pub(crate) async fn enqueue_paced(
    conn: &mut dyn Db,
    messages: &[NewMessage],
    deadline: DateTime<Utc>,
    requests: &[SlotRequest],
    interval: Duration,
    now: DateTime<Utc>,
    dialect: Dialect,
) -> Result<(), StoreError> {
    for m in messages {
        insert_queued_for_delivery(conn, m, deadline).await?;
    }
    for request in requests {
        let count = u32::try_from(request.ids.len()).unwrap_or(u32::MAX);
        let grant = reserve_sender_slots(
            conn,
            &request.sender,
            count,
            interval,
            now,
            deadline,
            dialect,
        )
        .await?;
        let (due, slot) = match grant {
            SlotGrant::Granted { at } => (micros(at), Some(micros(at))),
            SlotGrant::Refused { .. } => (micros(deadline), None),
        };
        for id in &request.ids {
            query("UPDATE messages SET next_attempt_at = $2, sender_slot_at = $3 WHERE id = $1")
                .bind(id.as_str())
                .bind(due)
                .bind(slot)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// The messages among `ids` that hold a slot reservation still valid for the attempt they are
/// leased for (the reservation made them due: `sender_slot_at = next_attempt_at`).
pub(crate) async fn slot_reservations(
    conn: &mut dyn Db,
    ids: &[String],
) -> Result<Vec<String>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT id FROM messages WHERE id IN ({}) AND sender_slot_at IS NOT NULL \
         AND sender_slot_at = next_attempt_at ORDER BY id",
        placeholders.join(", ")
    );
    let mut q = query(&sql);
    for id in ids {
        q = q.bind(id.as_str());
    }
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// Gives leased messages back to the outbox until `due` (no attempt was made; the count of
/// attempts is restored), holding the slot reservation `slot` when there is one.
pub(crate) async fn defer_for_slot(
    conn: &mut dyn Db,
    owner: &str,
    ids: &[String],
    due: DateTime<Utc>,
    slot: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    for id in ids {
        query(
            "UPDATE messages SET next_attempt_at = $2, sender_slot_at = $3, lease_owner = NULL, \
             lease_until = NULL, attempts = attempts - 1 WHERE id = $1 AND lease_owner = $4",
        )
        .bind(id.as_str())
        .bind(micros(due))
        .bind(slot.map(micros))
        .bind(owner)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Messages in the outbox waiting for a reserved sender slot still to come.
pub(crate) async fn waiting_for_sender(
    conn: &mut dyn Db,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    query_scalar(
        "SELECT COUNT(*) FROM messages WHERE next_attempt_at IS NOT NULL \
         AND sender_slot_at IS NOT NULL AND sender_slot_at = next_attempt_at AND sender_slot_at > $1",
    )
    .bind(micros(now))
    .fetch_one(&mut *conn)
    .await
}

/// Fills in the sender of a Powerpack message once Plivo names it (its callback's `From`).
pub(crate) async fn learn_sender(
    conn: &mut dyn Db,
    message_uuid: &str,
    sender: &str,
) -> Result<(), StoreError> {
    query("UPDATE messages SET sender_number = $2 WHERE message_uuid = $1 AND sender_number = ''")
        .bind(message_uuid)
        .bind(sender)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
