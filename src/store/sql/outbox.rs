//! The outbox: messages accepted for asynchronous delivery, leased to delivery workers; and the
//! instances that share Plivo's limits.

use crate::store::db::{query, query_scalar, Db};
use crate::store::dialect::Dialect;
use chrono::{DateTime, Utc};

use super::messages::{append_event, insert_queued_for_delivery, record_from_row, MESSAGE_COLUMNS};
use super::{micros, status, time};
use crate::store::{
    ClaimedMessage, Fleet, MessageStatus, NewMessage, OutboxStats, StatusUpdate, StoreError,
    UpdateOutcome,
};

/// How recent a heartbeat must be for its instance to count as live.
const LIVE_WITHIN_MICROS: i64 = 3_000_000;

/// Inserts messages (status `accepted`) and puts them in the outbox, due now.
pub(crate) async fn enqueue_messages(
    conn: &mut dyn Db,
    messages: &[NewMessage],
    deadline: DateTime<Utc>,
) -> Result<(), StoreError> {
    for m in messages {
        insert_queued_for_delivery(conn, m, deadline).await?;
    }
    Ok(())
}

/// Leases up to `limit` due messages to `owner`. `accepted` ones move to `sending`; ones whose
/// previous lease ran out are flagged `outcome_unknown` (that attempt may have reached Plivo).
/// On PostgreSQL the candidates are locked, skipping locked ones, so instances don't queue on each
/// other.
pub(crate) async fn claim_due(
    conn: &mut dyn Db,
    owner: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
    dialect: Dialect,
) -> Result<Vec<ClaimedMessage>, StoreError> {
    let now = micros(now);
    let lock = dialect.for_update_skip_locked();
    let candidates = query(&format!(
        "SELECT id, lease_until, status FROM messages WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $1 \
         AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at, id LIMIT $2{lock}"
    ))
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    let mut claimed = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let id: String = candidate.try_get("id")?;
        let taken_over = candidate
            .try_get::<Option<i64>, _>("lease_until")?
            .is_some();
        let was_accepted = status(candidate.try_get("status")?)? == MessageStatus::Accepted;
        let row = query(&format!(
            "UPDATE messages SET lease_owner = $2, lease_until = $3, attempts = attempts + 1, \
             status = CASE WHEN status = 'accepted' THEN 'sending' ELSE status END, \
             outcome_unknown = CASE WHEN $5 = 1 THEN 1 ELSE outcome_unknown END, \
             updated_at = CASE WHEN updated_at > $4 THEN updated_at ELSE $4 END, \
             first_attempt_at = COALESCE(first_attempt_at, $4) \
             WHERE id = $1 AND next_attempt_at IS NOT NULL AND (lease_until IS NULL OR lease_until < $4) \
             RETURNING {MESSAGE_COLUMNS}, attempts, deadline_at"
        ))
        .bind(&id)
        .bind(owner)
        .bind(micros(lease_until))
        .bind(now)
        .bind(i64::from(taken_over))
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { continue };
        let record = record_from_row(&row)?;
        let attempts: i64 = row.try_get("attempts")?;
        if was_accepted {
            let notify = record.callback_url.is_some();
            append_event(conn, &id, MessageStatus::Sending, now, None, None, notify).await?;
        } else if taken_over {
            let detail =
                "a delivery worker stopped mid-send; the outcome of its attempt is unknown";
            append_event(conn, &id, record.status, now, None, Some(detail), false).await?;
        }
        let deadline = match row.try_get::<Option<i64>, _>("deadline_at")? {
            Some(d) => time(d)?,
            None => record.created_at,
        };
        claimed.push(ClaimedMessage {
            record,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            deadline,
            taken_over,
        });
    }
    Ok(claimed)
}

/// Takes the message out of the outbox and applies its final delivery update (queued or failed).
pub(crate) async fn finish_delivery(
    conn: &mut dyn Db,
    id: &str,
    u: &StatusUpdate,
) -> Result<UpdateOutcome, StoreError> {
    query(
        "UPDATE messages SET next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    super::messages::update_status(conn, super::MessageKey::Id, id, u).await
}

/// Puts a leased message back in the outbox for `next_attempt_at`, with an event saying why.
pub(crate) async fn retry_delivery(
    conn: &mut dyn Db,
    owner: &str,
    id: &str,
    next_attempt_at: DateTime<Utc>,
    detail: &str,
    outcome_unknown: bool,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let at = micros(at);
    let current: Option<String> = query_scalar(
        "UPDATE messages SET next_attempt_at = $2, lease_owner = NULL, lease_until = NULL, \
         outcome_unknown = CASE WHEN $3 = 1 THEN 1 ELSE outcome_unknown END, \
         updated_at = CASE WHEN updated_at > $4 THEN updated_at ELSE $4 END \
         WHERE id = $1 AND lease_owner = $5 AND next_attempt_at IS NOT NULL RETURNING status",
    )
    .bind(id)
    .bind(micros(next_attempt_at))
    .bind(i64::from(outcome_unknown))
    .bind(at)
    .bind(owner)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(current) = current else {
        // The lease was lost: another worker has (or had) the message; leave it to that one.
        tracing::warn!(message.id = id, "lease lost before the retry was recorded");
        return Ok(());
    };
    let current = status(&current)?;
    append_event(conn, id, current, at, None, Some(detail), false).await
}

/// Gives a lease back without an attempt having been made (graceful shutdown).
pub(crate) async fn release_lease(
    conn: &mut dyn Db,
    owner: &str,
    id: &str,
) -> Result<(), StoreError> {
    query(
        "UPDATE messages SET lease_owner = NULL, lease_until = NULL, attempts = attempts - 1 \
         WHERE id = $1 AND lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Depth of the outbox, the oldest message not yet handed to Plivo, and counts by status. Its cost
/// does not grow with the store: the final statuses come from the maintained `status_counts`, the
/// others from the status index (they hold only messages under way), the oldest from two index seeks.
pub(crate) async fn outbox_stats(conn: &mut dyn Db) -> Result<OutboxStats, StoreError> {
    let depth: i64 =
        query_scalar("SELECT COUNT(*) FROM messages WHERE next_attempt_at IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?;
    let mut oldest: Option<i64> = None;
    for waiting in [MessageStatus::Accepted, MessageStatus::Sending] {
        let first: Option<i64> =
            query_scalar("SELECT MIN(created_at) FROM messages WHERE status = $1")
                .bind(waiting.as_str())
                .fetch_one(&mut *conn)
                .await?;
        oldest = match (oldest, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let mut by_status = Vec::new();
    for s in MessageStatus::ALL.into_iter().filter(|s| !s.is_final()) {
        let n = super::retention::count_status(conn, s).await?;
        if n > 0 {
            by_status.push((s, n));
        }
    }
    by_status.extend(
        super::retention::final_counts(conn)
            .await?
            .into_iter()
            .filter(|(_, n)| *n > 0),
    );
    Ok(OutboxStats {
        depth,
        oldest_waiting: oldest.map(time).transpose()?,
        by_status,
    })
}

/// Records this instance's heartbeat (and any pause it wants after a 429) and reads the fleet: the
/// live instances, and the latest pause still recorded, also by one that has left since.
pub(crate) async fn heartbeat(
    conn: &mut dyn Db,
    instance: &str,
    now: DateTime<Utc>,
    pause_until: Option<DateTime<Utc>>,
) -> Result<Fleet, StoreError> {
    let now = micros(now);
    query(
        "INSERT INTO instances (id, heartbeat_at, pause_until) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = $2, pause_until = $3",
    )
    .bind(instance)
    .bind(now)
    .bind(pause_until.map(micros))
    .execute(&mut *conn)
    .await?;
    query(
        "DELETE FROM instances WHERE heartbeat_at < $1 AND (pause_until IS NULL OR pause_until < $2)",
    )
    .bind(now - 10 * LIVE_WITHIN_MICROS)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let row = query(
        "SELECT COUNT(CASE WHEN heartbeat_at >= $1 THEN 1 END) AS live, MAX(pause_until) AS pause \
         FROM instances",
    )
    .bind(now - LIVE_WITHIN_MICROS)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Fleet {
        live: u32::try_from(row.try_get::<i64, _>("live")?)
            .unwrap_or(1)
            .max(1),
        pause_until: row
            .try_get::<Option<i64>, _>("pause")?
            .map(time)
            .transpose()?,
    })
}

/// Removes this instance from the fleet (clean shutdown). A pause it asked for after a 429 that
/// lasts past `now` stays for the others to honour: its row is kept, no longer live (heartbeat 0),
/// until the pause is over.
pub(crate) async fn leave(
    conn: &mut dyn Db,
    instance: &str,
    now: DateTime<Utc>,
    pause_until: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    match pause_until.filter(|until| *until > now) {
        Some(until) => {
            query("UPDATE instances SET heartbeat_at = 0, pause_until = $2 WHERE id = $1")
                .bind(instance)
                .bind(micros(until))
                .execute(&mut *conn)
                .await?
        }
        None => {
            query("DELETE FROM instances WHERE id = $1")
                .bind(instance)
                .execute(&mut *conn)
                .await?
        }
    };
    Ok(())
}
