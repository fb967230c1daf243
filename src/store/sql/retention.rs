//! Retention: when messages end, the purge of old ones in small batches, redaction, `DELETE`, and the
//! counts of final messages that `GET /metrics` reads instead of counting the table.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::micros;
use super::status;
use crate::store::db::{query, query_scalar, Db, Row};
use crate::store::retention::{mask_number, DeleteOutcome};
use crate::store::{MessageStatus, StoreError};

/// Rows of `status_counts` a status is spread over (see the migration `..._retention.sql`).
const COUNT_SHARDS: i64 = 8;

/// `$1, $2, …, $n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The shard of `status_counts` a message's changes go to: spread by id, stable for one message.
fn shard(message_id: &str) -> i64 {
    let hash = message_id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    i64::from(hash) % COUNT_SHARDS
}

/// Adds `delta` to the count of final `status` (called in the transaction that changes it).
pub(crate) async fn count_final(
    conn: &mut dyn Db,
    status: MessageStatus,
    message_id: &str,
    delta: i64,
) -> Result<(), StoreError> {
    if !status.is_final() || delta == 0 {
        return Ok(());
    }
    query(
        "INSERT INTO status_counts (status, shard, n) VALUES ($1, $2, $3) \
         ON CONFLICT (status, shard) DO UPDATE SET n = status_counts.n + excluded.n",
    )
    .bind(status.as_str())
    .bind(shard(message_id))
    .bind(delta)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many messages are in each final status (a sum over a few rows).
pub(crate) async fn final_counts(
    conn: &mut dyn Db,
) -> Result<Vec<(MessageStatus, i64)>, StoreError> {
    // SUM of BIGINT is NUMERIC on PostgreSQL: cast back.
    let rows =
        query("SELECT status, CAST(SUM(n) AS BIGINT) AS n FROM status_counts GROUP BY status")
            .fetch_all(conn)
            .await?;
    rows.iter()
        .map(|row| Ok((status(row.try_get("status")?)?, row.try_get::<i64, _>("n")?)))
        .collect()
}

/// Marks the message as ended at `at` unless it already is (a message that stays `sent` without a
/// receipt, at its deadline). From then on it counts as ended for `DELETE`, retention and resend.
/// Returns whether a message has that id.
pub(crate) async fn mark_ended(
    conn: &mut dyn Db,
    id: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let found = query("UPDATE messages SET ended_at = COALESCE(ended_at, $2) WHERE id = $1")
        .bind(id)
        .bind(micros(at))
        .execute(conn)
        .await?;
    Ok(found > 0)
}

/// Deletes a message that has ended, with everything recorded about it.
pub(crate) async fn delete_message(
    conn: &mut dyn Db,
    id: &str,
) -> Result<DeleteOutcome, StoreError> {
    let row = query("SELECT id, status, ended_at, batch_id FROM messages WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(DeleteOutcome::NotFound);
    };
    let ended = status(row.try_get("status")?)?.is_final()
        || row.try_get::<Option<i64>, _>("ended_at")?.is_some();
    if !ended {
        return Ok(DeleteOutcome::NotFinal);
    }
    Ok(match remove(conn, &[row]).await? {
        0 => DeleteOutcome::NotFound,
        _ => DeleteOutcome::Deleted,
    })
}

/// Deletes up to `limit` messages that ended before `before` (redacted ones first), with their
/// events, caller events and attempts, and any idempotency record that created them. Returns how
/// many messages went.
pub(crate) async fn purge_ended(
    conn: &mut dyn Db,
    before: DateTime<Utc>,
    limit: u32,
) -> Result<u64, StoreError> {
    let mut rows = Vec::new();
    for redacted in [1_i64, 0] {
        let left = i64::from(limit) - rows.len() as i64;
        if left <= 0 {
            break;
        }
        rows.extend(
            query(
                "SELECT id, status, batch_id FROM messages \
                 WHERE redacted = $1 AND ended_at < $2 ORDER BY ended_at LIMIT $3",
            )
            .bind(redacted)
            .bind(micros(before))
            .bind(left)
            .fetch_all(&mut *conn)
            .await?,
        );
    }
    remove(conn, &rows).await
}

/// Deletes the messages of `rows` (each with `id`, `batch_id`) and what hangs off them; how many
/// messages this transaction deleted.
async fn remove(conn: &mut dyn Db, rows: &[Row]) -> Result<u64, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>("id"))
        .collect::<Result<_, _>>()?;
    let list = placeholders(ids.len());
    let children = [
        format!(
            "DELETE FROM callback_attempts WHERE event_id IN \
             (SELECT event_id FROM callback_events WHERE message_id IN ({list}))"
        ),
        format!("DELETE FROM callback_events WHERE message_id IN ({list})"),
        format!("DELETE FROM message_events WHERE message_id IN ({list})"),
    ];
    for sql in &children {
        let mut q = query(sql);
        for id in &ids {
            q = q.bind(id.as_str());
        }
        q.execute(&mut *conn).await?;
    }
    // The counts follow what this transaction deleted: on PostgreSQL, two instances purging at once
    // may have picked the same messages, and only one of them deletes each.
    let sql = format!("DELETE FROM messages WHERE id IN ({list}) RETURNING id, status, direction");
    let mut q = query(&sql);
    for id in &ids {
        q = q.bind(id.as_str());
    }
    let deleted = q.fetch_all(&mut *conn).await?;
    forget_answers(conn, rows).await?;
    // Resends (`resendOf`/`resentAs`) are linked by id: a deleted message is no one's original.
    let sql = format!("UPDATE messages SET resend_of = NULL WHERE resend_of IN ({list})");
    let mut q = query(&sql);
    for id in &ids {
        q = q.bind(id.as_str());
    }
    q.execute(&mut *conn).await?;
    let mut gone: HashMap<(MessageStatus, i64), i64> = HashMap::new();
    for row in &deleted {
        let s = status(row.try_get("status")?)?;
        // Inbound messages are not in the counts of sends.
        let outbound = row.try_get::<&str, _>("direction")? == "outbound";
        if s.is_final() && outbound {
            *gone.entry((s, shard(row.try_get("id")?))).or_default() += 1;
        }
    }
    for ((s, shard), n) in gone {
        query("UPDATE status_counts SET n = n - $3 WHERE status = $1 AND shard = $2")
            .bind(s.as_str())
            .bind(shard)
            .bind(n)
            .execute(&mut *conn)
            .await?;
    }
    Ok(deleted.len() as u64)
}

/// Deletes the stored idempotency answers that name the messages of `rows` (by id, or by batch for
/// a bulk send's answer).
async fn forget_answers(conn: &mut dyn Db, rows: &[Row]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut refs: Vec<String> = Vec::with_capacity(rows.len());
    for row in rows {
        refs.push(row.try_get("id")?);
        if let Some(batch) = row.try_get::<Option<String>, _>("batch_id")? {
            if !refs.contains(&batch) {
                refs.push(batch);
            }
        }
    }
    let sql = format!(
        "DELETE FROM idempotency_keys WHERE message_ref IN ({})",
        placeholders(refs.len())
    );
    let mut q = query(&sql);
    for r in &refs {
        q = q.bind(r.as_str());
    }
    q.execute(conn).await?;
    Ok(())
}

/// Redacts up to `limit` messages that ended before `before` and are not redacted yet: the
/// recipient keeps its last four digits, text and media URLs go, event details and the error
/// message are cleared, and stored idempotency answers for them are deleted. Returns how many.
pub(crate) async fn redact_ended(
    conn: &mut dyn Db,
    before: DateTime<Utc>,
    limit: u32,
) -> Result<u64, StoreError> {
    let rows = query(
        "SELECT id, recipient_number, batch_id FROM messages \
         WHERE redacted = 0 AND ended_at < $1 ORDER BY ended_at LIMIT $2",
    )
    .bind(micros(before))
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let id: &str = row.try_get("id")?;
        query(
            "UPDATE messages SET recipient_number = $2, message_text = NULL, media_urls = '[]', \
             error_message = NULL, redacted = 1 WHERE id = $1",
        )
        .bind(id)
        .bind(mask_number(row.try_get("recipient_number")?))
        .execute(&mut *conn)
        .await?;
        query(
            "UPDATE message_events SET detail = NULL WHERE message_id = $1 AND detail IS NOT NULL",
        )
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    forget_answers(conn, &rows).await?;
    Ok(rows.len() as u64)
}

/// Deletes up to `limit` idempotency keys claimed before `keys_before` and used webhook nonces seen
/// before `nonces_before` that changed no message (a nonce that changed a message is kept as long as
/// the message, and goes with it). Returns how many rows went.
pub(crate) async fn purge_expired_keys(
    conn: &mut dyn Db,
    keys_before: DateTime<Utc>,
    nonces_before: DateTime<Utc>,
    limit: u32,
) -> Result<u64, StoreError> {
    let keys = query(
        "DELETE FROM idempotency_keys WHERE idem_key IN \
         (SELECT idem_key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
    )
    .bind(micros(keys_before))
    .bind(i64::from(limit))
    .execute(&mut *conn)
    .await?;
    let nonces = query(
        "DELETE FROM used_nonces WHERE nonce IN \
         (SELECT nonce FROM used_nonces WHERE seen_at < $1 AND message_id IS NULL \
         ORDER BY seen_at LIMIT $2)",
    )
    .bind(micros(nonces_before))
    .bind(i64::from(limit))
    .execute(&mut *conn)
    .await?;
    Ok(keys + nonces)
}

/// The message (or batch) a stored idempotency answer names: its top-level `id`, else `batchId`.
pub(crate) fn answer_ref(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["id", "batchId"]
        .iter()
        .find_map(|k| value.get(k)?.as_str().map(str::to_owned))
}

/// Counts messages in a non-final status from the status index (they are the ones under way).
pub(crate) async fn count_status(
    conn: &mut dyn Db,
    status: MessageStatus,
) -> Result<i64, StoreError> {
    query_scalar("SELECT COUNT(*) FROM messages WHERE status = $1")
        .bind(status.as_str())
        .fetch_one(conn)
        .await
}
