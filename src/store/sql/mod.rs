//! Every SQL statement of the store, written once for both backends.
//!
//! The statements use `$N` placeholders, which PostgreSQL and SQLite both accept, and only TEXT and
//! BIGINT values. Each function takes one connection (a [`Db`]: sqlx or the SQLite writer's
//! `rusqlite` connection) and is run inside a transaction by the caller.

mod callbacks;
mod keys;
mod messages;
mod outbox;

use crate::store::db::{query, Db};
use chrono::{DateTime, Utc};

use super::StoreError;

pub(crate) use callbacks::{callback_attempts, claim_callbacks, record_callback_attempt};
pub(crate) use keys::{
    claim_idempotency_key, complete_idempotency_key, purge_expired_idempotency_keys,
    release_idempotency_key, use_nonce,
};
// --- webhook hardening ---
pub(crate) use keys::link_nonce;
pub(crate) use messages::{
    get_message, insert_message, insert_sending, list_messages, mark_outcome_unknown,
    update_status, MessageKey,
};
pub(crate) use outbox::{
    claim_due, enqueue_messages, finish_delivery, heartbeat, leave, outbox_stats, release_lease,
    retry_delivery,
};

/// Unix microseconds, as stored.
fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// A stored time back; out-of-range values are corrupt data.
fn time(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {micros} is out of range")))
}

/// A stored status back; an unknown name is corrupt data.
fn status(text: &str) -> Result<super::MessageStatus, StoreError> {
    text.parse()
        .map_err(|e: super::UnknownStatus| StoreError::Corrupt(e.to_string()))
}

/// `SELECT 1`: the database answers.
pub(crate) async fn ping(conn: &mut dyn Db) -> Result<(), StoreError> {
    query("SELECT 1").execute(&mut *conn).await?;
    Ok(())
}
