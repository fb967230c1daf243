//! Idempotency keys and webhook nonces.

use crate::store::db::{query, query_scalar, Db, Row};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};

use super::micros;
use crate::store::{IdempotencyClaim, StoreError};

/// How long a used Plivo V2 nonce that changed no message is remembered (one that changed a message
/// is kept as long as the message).
const NONCE_RETENTION: chrono::Duration = chrono::Duration::days(7);

/// How long an idempotency key holds (contract §5).
pub(crate) const IDEMPOTENCY_TTL: chrono::Duration = chrono::Duration::hours(24);

/// How long a key may stay in flight (no answer stored) before its request counts as abandoned
/// (the process died, or the request was cut off) and the key can be claimed again. Longer than
/// any request may last (`REQUEST_TIMEOUT_MS` is at most 10 minutes).
pub(crate) const IN_FLIGHT_TTL: chrono::Duration = chrono::Duration::minutes(15);

/// Claims `key` for a request: an atomic upsert that inserts the key or replaces an expired row, then a
/// read of whoever holds it. Never check-then-insert.
pub(crate) async fn claim_idempotency_key(
    conn: &mut dyn Db,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
) -> Result<IdempotencyClaim, StoreError> {
    // A holder may release the key between our upsert and our read; then try again.
    for _ in 0..3 {
        let claimed: Option<String> = query_scalar(
            "INSERT INTO idempotency_keys (idem_key, request_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (idem_key) DO UPDATE SET request_hash = excluded.request_hash, \
             created_at = excluded.created_at, response_status = NULL, response_body = NULL \
             WHERE idempotency_keys.created_at < $4 \
             OR (idempotency_keys.response_status IS NULL AND idempotency_keys.created_at < $5) \
             RETURNING idem_key",
        )
        .bind(key)
        .bind(request_hash)
        .bind(micros(now))
        .bind(micros(now - IDEMPOTENCY_TTL))
        .bind(micros(now - IN_FLIGHT_TTL))
        .fetch_optional(&mut *conn)
        .await?;
        if claimed.is_some() {
            return Ok(IdempotencyClaim::Claimed);
        }
        let holder = query(
            "SELECT request_hash, response_status, response_body FROM idempotency_keys \
             WHERE idem_key = $1",
        )
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = holder {
            return claim_from_row(&row, request_hash);
        }
    }
    Ok(IdempotencyClaim::InFlight)
}

fn claim_from_row(row: &Row, request_hash: &str) -> Result<IdempotencyClaim, StoreError> {
    if row.try_get::<&str, _>("request_hash")? != request_hash {
        return Ok(IdempotencyClaim::Mismatch);
    }
    let status: Option<i64> = row.try_get("response_status")?;
    let body: Option<&str> = row.try_get("response_body")?;
    let Some(status) = status else {
        return Ok(IdempotencyClaim::InFlight);
    };
    let status = u16::try_from(status)
        .map_err(|_| StoreError::Corrupt(format!("response status {status}")))?;
    let body = STANDARD
        .decode(body.unwrap_or_default())
        .map_err(|e| StoreError::Corrupt(format!("response body: {e}")))?;
    Ok(IdempotencyClaim::Completed { status, body })
}

/// Stores the answer to replay for `key` (no-op if the key is not held).
pub(crate) async fn complete_idempotency_key(
    conn: &mut dyn Db,
    key: &str,
    status: u16,
    body: &[u8],
) -> Result<(), StoreError> {
    query(
        "UPDATE idempotency_keys SET response_status = $2, response_body = $3 WHERE idem_key = $1",
    )
    .bind(key)
    .bind(i64::from(status))
    .bind(STANDARD.encode(body))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Forgets an in-flight claim; a completed key stays.
pub(crate) async fn release_idempotency_key(
    conn: &mut dyn Db,
    key: &str,
) -> Result<(), StoreError> {
    query("DELETE FROM idempotency_keys WHERE idem_key = $1 AND response_status IS NULL")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Deletes keys claimed before `older_than`; returns how many.
pub(crate) async fn purge_expired_idempotency_keys(
    conn: &mut dyn Db,
    older_than: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let done = query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(micros(older_than))
        .execute(&mut *conn)
        .await?;
    Ok(done)
}

/// Records `nonce`; `true` if it was not seen before. Forgets old nonces that changed no message.
pub(crate) async fn use_nonce(
    conn: &mut dyn Db,
    nonce: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    query("DELETE FROM used_nonces WHERE seen_at < $1 AND message_id IS NULL")
        .bind(micros(now - NONCE_RETENTION))
        .execute(&mut *conn)
        .await?;
    let done = query(
        "INSERT INTO used_nonces (nonce, seen_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
    )
    .bind(nonce)
    .bind(micros(now))
    .execute(&mut *conn)
    .await?;
    Ok(done == 1)
}

// --- webhook hardening ---

/// Links a used nonce to the message holding `message_uuid` (when there is one), so the nonce is
/// kept as long as that message and deleted with it.
pub(crate) async fn link_nonce(
    conn: &mut dyn Db,
    nonce: &str,
    message_uuid: &str,
) -> Result<(), StoreError> {
    query(
        "UPDATE used_nonces SET message_id = \
         (SELECT id FROM messages WHERE message_uuid = $2 ORDER BY created_at LIMIT 1) \
         WHERE nonce = $1 AND message_id IS NULL",
    )
    .bind(nonce)
    .bind(message_uuid)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
