//! Reconciliation with Plivo's records: messages waiting to be checked, the account-wide budget of
//! List Message requests, status callbacks held until their message takes the UUID, and overdue
//! receipts (README "Delivery guarantees").

use chrono::{DateTime, Utc};

use super::messages::{append_event, json_list, record_from_row, MESSAGE_COLUMNS};
use super::status;
use super::{micros, time, MessageKey};
use crate::store::db::{query, query_scalar, Db};
use crate::store::{
    MessageStatus, ReceiptCheck, ReconcileItem, Reconciled, StatusUpdate, StoreError, UpdateOutcome,
};

/// How long a status callback for an unknown UUID is held (at least 15 minutes).
const HOLD_EARLY_CALLBACK_MICROS: i64 = 3_600_000_000;

/// Takes a leased message out of the outbox after an attempt whose outcome is unknown: it waits
/// for the reconciler (settling from `from`). Does nothing if `owner` lost the lease.
pub(crate) async fn await_reconcile(
    conn: &mut dyn Db,
    owner: &str,
    id: &str,
    from: DateTime<Utc>,
    detail: &str,
    plivo_log: &str,
) -> Result<(), StoreError> {
    let at = micros(from);
    let current: Option<String> = query_scalar(
        "UPDATE messages SET next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL, \
         outcome_unknown = 1, reconcile_from = $2, reconcile_next = NULL, reconcile_lease = NULL, \
         plivo_log = $4, updated_at = CASE WHEN updated_at > $2 THEN updated_at ELSE $2 END \
         WHERE id = $1 AND lease_owner = $3 AND next_attempt_at IS NOT NULL RETURNING status",
    )
    .bind(id)
    .bind(at)
    .bind(owner)
    .bind(plivo_log)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(current) = current else {
        tracing::warn!(
            message.id = id,
            "lease lost before the unknown outcome was recorded"
        );
        return Ok(());
    };
    append_event(conn, id, status(&current)?, at, None, Some(detail), false).await
}

/// Flags synchronous sends still `sending` although created before `cutoff` (their process
/// stopped mid-send): their outcome is unknown, to be checked from `from`. Returns how many.
pub(crate) async fn sweep_stalled_sends(
    conn: &mut dyn Db,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let now = micros(now);
    let rows = query(
        "UPDATE messages SET outcome_unknown = 1, reconcile_from = $2, reconcile_next = NULL, \
         updated_at = CASE WHEN updated_at > $2 THEN updated_at ELSE $2 END \
         WHERE status = 'sending' AND created_at < $1 AND next_attempt_at IS NULL \
         AND reconcile_from IS NULL RETURNING id",
    )
    .bind(micros(cutoff))
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let detail =
        "the process sending it stopped before Plivo's answer was recorded; the outcome is unknown";
    for row in &rows {
        let id: String = row.try_get("id")?;
        append_event(
            conn,
            &id,
            MessageStatus::Sending,
            now,
            None,
            Some(detail),
            false,
        )
        .await?;
    }
    Ok(rows.len() as u64)
}

/// Leases up to `limit` messages due for a check: settled (`reconcile_from` at or before
/// `settled_before`) and not postponed past `now`.
pub(crate) async fn claim_reconcilable(
    conn: &mut dyn Db,
    now: DateTime<Utc>,
    settled_before: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<ReconcileItem>, StoreError> {
    let now = micros(now);
    let ids: Vec<String> = query(
        "SELECT id FROM messages WHERE reconcile_from IS NOT NULL AND reconcile_from <= $1 \
         AND (reconcile_next IS NULL OR reconcile_next <= $2) \
         AND (reconcile_lease IS NULL OR reconcile_lease < $2) ORDER BY reconcile_from, id LIMIT $3",
    )
    .bind(micros(settled_before))
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| row.try_get("id"))
    .collect::<Result<_, _>>()?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        let row = query(&format!(
            "UPDATE messages SET reconcile_lease = $2 WHERE id = $1 AND reconcile_from IS NOT NULL \
             AND (reconcile_lease IS NULL OR reconcile_lease < $3) \
             RETURNING {MESSAGE_COLUMNS}, first_attempt_at, deadline_at, reconcile_tries, plivo_log"
        ))
        .bind(&id)
        .bind(micros(lease_until))
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { continue };
        let record = record_from_row(&row)?;
        let first_attempt_at = match row.try_get::<Option<i64>, _>("first_attempt_at")? {
            Some(t) => time(t)?,
            None => record.created_at,
        };
        let deadline = row
            .try_get::<Option<i64>, _>("deadline_at")?
            .map(time)
            .transpose()?;
        let tries: i64 = row.try_get("reconcile_tries")?;
        items.push(ReconcileItem {
            record,
            first_attempt_at,
            deadline,
            tries: u32::try_from(tries).unwrap_or(u32::MAX),
            plivo_log: row.try_get("plivo_log")?,
        });
    }
    Ok(items)
}

/// Of `uuids`, the ones that belong to a stored message other than `id`.
pub(crate) async fn uuids_of_others(
    conn: &mut dyn Db,
    id: &str,
    uuids: &[String],
) -> Result<Vec<String>, StoreError> {
    if uuids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (2..uuids.len() + 2).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT message_uuid FROM messages WHERE id <> $1 AND message_uuid IN ({})",
        placeholders.join(", ")
    );
    let mut q = query(&sql).bind(id);
    for uuid in uuids {
        q = q.bind(uuid.as_str());
    }
    q.fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| row.try_get("message_uuid"))
        .collect()
}

/// Applies what Plivo's records said about a checked message.
pub(crate) async fn resolve(
    conn: &mut dyn Db,
    id: &str,
    outcome: &Reconciled,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = micros(at);
    match outcome {
        Reconciled::Found {
            message_uuid,
            update,
            duplicates,
        } => {
            let duplicates = if duplicates.is_empty() {
                None
            } else {
                Some(json_list(duplicates)?)
            };
            let cleared = query(
                "UPDATE messages SET message_uuid = $2, outcome_unknown = 0, reconcile_from = NULL, \
                 reconcile_next = NULL, reconcile_lease = NULL, reconcile_tries = 0, \
                 next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL, \
                 duplicate_uuids = COALESCE($3, duplicate_uuids), \
                 updated_at = CASE WHEN updated_at > $4 THEN updated_at ELSE $4 END \
                 WHERE id = $1 AND reconcile_from IS NOT NULL",
            )
            .bind(id)
            .bind(message_uuid.as_str())
            .bind(duplicates)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            if cleared == 0 {
                // Resolved meanwhile (another instance's check whose lease ran out first).
                return Ok(());
            }
            super::messages::update_status(conn, MessageKey::Id, id, update).await?;
            let current = current_status(conn, id).await?;
            append_event(conn, id, current, now, None, Some("reconciled"), false).await?;
            apply_held_callbacks(conn, message_uuid).await?;
        }
        Reconciled::NotFound => {
            let asynchronous: Option<Option<i64>> = query_scalar(
                "UPDATE messages SET outcome_unknown = 0, reconcile_from = NULL, reconcile_next = NULL, \
                 reconcile_lease = NULL, reconcile_tries = 0, \
                 next_attempt_at = CASE WHEN deadline_at IS NULL THEN NULL ELSE $2 END, \
                 lease_owner = NULL, lease_until = NULL, \
                 updated_at = CASE WHEN updated_at > $2 THEN updated_at ELSE $2 END \
                 WHERE id = $1 AND reconcile_from IS NOT NULL RETURNING deadline_at",
            )
            .bind(id)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(asynchronous) = asynchronous else {
                return Ok(()); // resolved meanwhile
            };
            match asynchronous {
                Some(_) => {
                    let current = current_status(conn, id).await?;
                    let detail = "Plivo has no record of it: not sent; sending it again";
                    append_event(conn, id, current, now, None, Some(detail), false).await?;
                }
                None => {
                    let failed = StatusUpdate {
                        status: MessageStatus::Failed,
                        message_uuid: None,
                        error_code: Some("not_sent".to_owned()),
                        error_message: Some(
                            "Plivo has no record of it: it was not sent".to_owned(),
                        ),
                        at,
                    };
                    super::messages::update_status(conn, MessageKey::Id, id, &failed).await?;
                }
            }
        }
        Reconciled::Later { next, counted, .. } => {
            query(
                "UPDATE messages SET reconcile_next = $2, reconcile_lease = NULL, \
                 reconcile_tries = reconcile_tries + $3 WHERE id = $1 AND reconcile_from IS NOT NULL",
            )
            .bind(id)
            .bind(micros(*next))
            .bind(i64::from(*counted))
            .execute(&mut *conn)
            .await?;
        }
        Reconciled::GaveUp => {
            let cleared = query(
                "UPDATE messages SET reconcile_from = NULL, reconcile_next = NULL, reconcile_lease = NULL, \
                 next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $1 AND reconcile_from IS NOT NULL",
            )
            .bind(id)
            .execute(&mut *conn)
            .await?;
            if cleared == 0 {
                return Ok(()); // resolved meanwhile
            }
            let failed = StatusUpdate {
                status: MessageStatus::Failed,
                message_uuid: None,
                error_code: Some("ambiguous".to_owned()),
                error_message: Some(
                    "Plivo's records hold more than one message that could be this one; not resent"
                        .to_owned(),
                ),
                at,
            };
            super::messages::update_status(conn, MessageKey::Id, id, &failed).await?;
        }
    }
    Ok(())
}

async fn current_status(conn: &mut dyn Db, id: &str) -> Result<MessageStatus, StoreError> {
    let current: Option<String> = query_scalar("SELECT status FROM messages WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    status(&current.ok_or(StoreError::MessageNotFound)?)
}

/// Counts one List Message request against `max` in the last 60 s (all instances together);
/// `false` when the budget is spent.
pub(crate) async fn take_list_slot(
    conn: &mut dyn Db,
    now: DateTime<Utc>,
    max: u32,
) -> Result<bool, StoreError> {
    let now = micros(now);
    // The row lock makes concurrent transactions on PostgreSQL take turns (SQLite has one writer).
    query("UPDATE reconcile_budget_lock SET taken = taken + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    query("DELETE FROM reconcile_list_requests WHERE at <= $1")
        .bind(now - 60_000_000)
        .execute(&mut *conn)
        .await?;
    let used: i64 = query_scalar("SELECT COUNT(*) FROM reconcile_list_requests")
        .fetch_one(&mut *conn)
        .await?;
    if used >= i64::from(max) {
        return Ok(false);
    }
    query("INSERT INTO reconcile_list_requests (id, at) VALUES ($1, $2)")
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// Keeps a status callback for a UUID no message has yet; forgets ones held over an hour.
pub(crate) async fn hold_early_callback(
    conn: &mut dyn Db,
    message_uuid: &str,
    u: &StatusUpdate,
) -> Result<(), StoreError> {
    let at = micros(u.at);
    query("DELETE FROM early_callbacks WHERE received_at < $1")
        .bind(at - HOLD_EARLY_CALLBACK_MICROS)
        .execute(&mut *conn)
        .await?;
    query(
        "INSERT INTO early_callbacks (message_uuid, status, error_code, received_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (message_uuid, status) DO NOTHING",
    )
    .bind(message_uuid)
    .bind(u.status.as_str())
    .bind(u.error_code.as_deref())
    .bind(at)
    .execute(&mut *conn)
    .await?;
    // The message may have taken the UUID meanwhile (another transaction): apply at once if so.
    apply_held_callbacks(conn, message_uuid).await
}

/// Applies (and forgets) the callbacks held for `message_uuid`, if a message has it now.
pub(crate) async fn apply_held_callbacks(
    conn: &mut dyn Db,
    message_uuid: &str,
) -> Result<(), StoreError> {
    // Whether any message has this UUID: at most one row is read, however many share it.
    let known: i64 = query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE message_uuid = $1 LIMIT 1) AS m",
    )
    .bind(message_uuid)
    .fetch_one(&mut *conn)
    .await?;
    if known == 0 {
        return Ok(());
    }
    let rows = query(
        "DELETE FROM early_callbacks WHERE message_uuid = $1 \
         RETURNING status, error_code, received_at",
    )
    .bind(message_uuid)
    .fetch_all(&mut *conn)
    .await?;
    let mut held = Vec::with_capacity(rows.len());
    for row in &rows {
        held.push(StatusUpdate {
            status: status(row.try_get("status")?)?,
            message_uuid: None,
            error_code: row.try_get("error_code")?,
            error_message: None,
            at: time(row.try_get("received_at")?)?,
        });
    }
    held.sort_by_key(|u| (u.status.rank(), u.at));
    for u in &held {
        // Boxed: update_status itself applies held callbacks when it sets a UUID.
        let applied: UpdateOutcome = Box::pin(super::messages::update_status(
            conn,
            MessageKey::Uuid,
            message_uuid,
            u,
        ))
        .await?;
        tracing::debug!(message.uuid = message_uuid, outcome = ?applied, "early status callback applied");
    }
    Ok(())
}

/// Applies every held callback whose UUID a message has taken (a race between two transactions
/// can leave one held); returns how many UUIDs were matched.
pub(crate) async fn sweep_held_callbacks(conn: &mut dyn Db) -> Result<u64, StoreError> {
    let uuids: Vec<String> = query(
        "SELECT DISTINCT e.message_uuid FROM early_callbacks e \
         JOIN messages m ON m.message_uuid = e.message_uuid LIMIT 100",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| row.try_get("message_uuid"))
    .collect::<Result<_, _>>()?;
    for uuid in &uuids {
        apply_held_callbacks(conn, uuid).await?;
    }
    Ok(uuids.len() as u64)
}

/// Held early callbacks, counted up to `cap` (a bounded query for the metric).
pub(crate) async fn count_held_callbacks(conn: &mut dyn Db, cap: i64) -> Result<i64, StoreError> {
    query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM early_callbacks LIMIT $1) AS held")
        .bind(cap)
        .fetch_one(&mut *conn)
        .await
}

// --- missing receipts ---

/// Messages `queued`/`sent` whose receipt lookup is due, leased until `lease_until`. A message
/// that has not been looked up yet has `receipt_check_at` = its last status change and is due
/// when that is at or before `first_due_before` (now − `RECEIPT_TIMEOUT_SECONDS`); after a lookup
/// it holds the absolute time of the next one. Each claim counts one lookup.
pub(crate) async fn claim_receipt_checks(
    conn: &mut dyn Db,
    now: DateTime<Utc>,
    first_due_before: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<ReceiptCheck>, StoreError> {
    let due = "receipt_check_at IS NOT NULL AND receipt_check_at <= $1 \
               AND (receipt_checks > 0 OR receipt_check_at <= $2)";
    let rows = query(&format!(
        "SELECT id FROM messages WHERE {due} ORDER BY receipt_check_at, id LIMIT $3"
    ))
    .bind(micros(now))
    .bind(micros(first_due_before))
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    let mut checks = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get("id")?;
        let row = query(&format!(
            "UPDATE messages SET receipt_check_at = $3, receipt_checks = receipt_checks + 1 \
             WHERE id = $4 AND {due} \
             RETURNING id, message_uuid, status, receipt_checks, created_at, updated_at"
        ))
        .bind(micros(now))
        .bind(micros(first_due_before))
        .bind(micros(lease_until))
        .bind(&id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { continue };
        let Some(message_uuid) = row.try_get::<Option<String>, _>("message_uuid")? else {
            continue;
        };
        checks.push(ReceiptCheck {
            id,
            message_uuid,
            status: status(row.try_get("status")?)?,
            checks: u32::try_from(row.try_get::<i64, _>("receipt_checks")?).unwrap_or(u32::MAX),
            created_at: time(row.try_get("created_at")?)?,
            updated_at: time(row.try_get("updated_at")?)?,
        });
    }
    Ok(checks)
}

/// Sets (or clears, with `None`) the absolute time of a message's next receipt lookup; does
/// nothing once the message has left `queued`/`sent`.
pub(crate) async fn schedule_receipt_check(
    conn: &mut dyn Db,
    id: &str,
    next: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    query(
        "UPDATE messages SET receipt_check_at = $2 WHERE id = $1 AND status IN ('queued', 'sent') \
         AND receipt_check_at IS NOT NULL",
    )
    .bind(id)
    .bind(next.map(micros))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A message still `queued`/`sent` at its deadline: an event `no_receipt`, status kept, no more
/// receipt checks. The one place this is written (retention's `ended_at` belongs here too).
pub(crate) async fn mark_no_receipt(
    conn: &mut dyn Db,
    id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = micros(at);
    let current: Option<String> = query_scalar(
        "UPDATE messages SET receipt_check_at = NULL WHERE id = $1 \
         AND status IN ('queued', 'sent') RETURNING status",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(current) = current else {
        return Ok(());
    };
    append_event(
        &mut *conn,
        id,
        status(&current)?,
        now,
        None,
        Some("no_receipt"),
        false,
    )
    .await?;
    // From now on it counts as ended for DELETE, retention and resend.
    super::mark_ended(conn, id, at).await?;
    Ok(())
}

/// Messages waiting for a receipt, counted up to `cap` (a bounded query for the metric).
pub(crate) async fn count_awaiting_receipt(conn: &mut dyn Db, cap: i64) -> Result<i64, StoreError> {
    query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE receipt_check_at IS NOT NULL LIMIT $1) AS w",
    )
    .bind(cap)
    .fetch_one(&mut *conn)
    .await
}
