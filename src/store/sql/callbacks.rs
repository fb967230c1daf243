//! Status events for callers (`callbackUrl`): queued with each status change, posted in order.

use crate::store::db::{query, Db};
use chrono::{DateTime, Utc};

use super::{micros, status, time};
use crate::store::{CallbackAttempt, MessageStatus, PendingCallback, StoreError};

/// Queues the message's event number `seq` (its latest when `None`) for its caller, if the message
/// has a `callback_url`.
pub(super) async fn queue_event(
    conn: &mut dyn Db,
    message_id: &str,
    seq: Option<i64>,
    status: MessageStatus,
    at: i64,
    error_code: Option<&str>,
) -> Result<(), StoreError> {
    query(
        "INSERT INTO callback_events (event_id, message_id, seq, status, error_code, occurred_at, \
         next_attempt_at, attempts) \
         SELECT $1, m.id, COALESCE($6, (SELECT MAX(e.seq) FROM message_events e WHERE e.message_id = m.id)), \
         $3, $4, $5, $5, 0 \
         FROM messages m WHERE m.id = $2 AND m.callback_url IS NOT NULL",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(message_id)
    .bind(status.as_str())
    .bind(error_code)
    .bind(at)
    .bind(seq)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Leases due events, only the earliest pending one of each message (so they go out in order).
pub(crate) async fn claim_callbacks(
    conn: &mut dyn Db,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<PendingCallback>, StoreError> {
    let now = micros(now);
    let rows = query(
        "SELECT e.event_id, e.message_id, e.status, e.error_code, e.occurred_at, e.attempts, \
         m.callback_url, m.message_uuid, m.recipient_number \
         FROM callback_events e JOIN messages m ON m.id = e.message_id \
         WHERE e.next_attempt_at IS NOT NULL AND e.next_attempt_at <= $1 \
         AND (e.lease_until IS NULL OR e.lease_until < $1) \
         AND NOT EXISTS (SELECT 1 FROM callback_events p WHERE p.message_id = e.message_id \
                         AND p.seq < e.seq AND p.next_attempt_at IS NOT NULL) \
         ORDER BY e.next_attempt_at LIMIT $2",
    )
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let event_id: String = row.try_get("event_id")?;
        let leased = query(
            "UPDATE callback_events SET lease_until = $2 \
             WHERE event_id = $1 AND (lease_until IS NULL OR lease_until < $3)",
        )
        .bind(&event_id)
        .bind(micros(lease_until))
        .bind(now)
        .execute(&mut *conn)
        .await?;
        if leased == 0 {
            continue;
        }
        claimed.push(PendingCallback {
            event_id,
            message_id: row.try_get("message_id")?,
            callback_url: row.try_get("callback_url")?,
            message_uuid: row.try_get("message_uuid")?,
            recipient_number: row.try_get("recipient_number")?,
            status: status(row.try_get("status")?)?,
            error_code: row.try_get("error_code")?,
            occurred_at: time(row.try_get("occurred_at")?)?,
            attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        });
    }
    Ok(claimed)
}

/// Records one try; `next_attempt_at` is when to try again (`None`: done, delivered or given up).
pub(crate) async fn record_callback_attempt(
    conn: &mut dyn Db,
    event_id: &str,
    attempt: &CallbackAttempt,
    next_attempt_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let at = micros(attempt.at);
    query(
        "INSERT INTO callback_attempts (event_id, attempt, at, response_status, error) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(event_id)
    .bind(i64::from(attempt.attempt))
    .bind(at)
    .bind(attempt.response_status.map(i64::from))
    .bind(attempt.error.as_deref())
    .execute(&mut *conn)
    .await?;
    let delivered = attempt
        .response_status
        .is_some_and(|s| (200..300).contains(&s));
    query(
        "UPDATE callback_events SET attempts = $2, lease_until = NULL, next_attempt_at = $3, \
         delivered_at = $4 WHERE event_id = $1",
    )
    .bind(event_id)
    .bind(i64::from(attempt.attempt))
    .bind(next_attempt_at.map(micros))
    .bind(delivered.then_some(at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every try at posting the message's events, oldest first.
pub(crate) async fn callback_attempts(
    conn: &mut dyn Db,
    message_id: &str,
) -> Result<Vec<CallbackAttempt>, StoreError> {
    let rows = query(
        "SELECT a.event_id, e.status, a.attempt, a.at, a.response_status, a.error \
         FROM callback_attempts a JOIN callback_events e ON e.event_id = a.event_id \
         WHERE e.message_id = $1 ORDER BY e.seq, a.attempt",
    )
    .bind(message_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(CallbackAttempt {
                event_id: row.try_get("event_id")?,
                status: status(row.try_get("status")?)?,
                attempt: u32::try_from(row.try_get::<i64, _>("attempt")?).unwrap_or(u32::MAX),
                at: time(row.try_get("at")?)?,
                response_status: row
                    .try_get::<Option<i64>, _>("response_status")?
                    .and_then(|s| u16::try_from(s).ok()),
                error: row.try_get("error")?,
            })
        })
        .collect()
}
