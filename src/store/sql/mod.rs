//! Every SQL statement of the store, written once for both backends.
//!
//! The statements use `$N` placeholders, which PostgreSQL and SQLite both accept, and only TEXT and
//! BIGINT values. Each function takes one connection (a [`Db`]: sqlx or the SQLite writer's
//! `rusqlite` connection) and is run inside a transaction by the caller.

mod callbacks;
mod inbound;
mod keys;
mod messages;
mod optouts;
mod outbox;
mod retention;
// --- sender pool, pacing, resend, redelivery ---
mod notes;
mod redeliver;
mod resend;
mod senders;
// --- reconciliation ---
mod reconcile;
// --- media uploads ---
mod uploads;

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
    events_statement, get_message, insert_sending, list_messages, listing_statement,
    mark_outcome_unknown, update_status, MessageKey,
};
// --- retention ---
pub use keys::{IDEMPOTENCY_TTL, NONCE_RETENTION};
// --- inbound messages and opt-outs ---
pub(crate) use inbound::record_inbound;
pub(crate) use optouts::{apply_change, list_opt_outs, opt_out_status, opted_out};
pub(crate) use outbox::{
    claim_due, enqueue_messages, finish_delivery, heartbeat, leave, outbox_stats, release_lease,
    retry_delivery,
};
pub(crate) use retention::{
    delete_message, mark_ended, purge_ended, purge_expired_keys, redact_ended,
};
// --- sender pool, pacing, resend, redelivery ---
pub(crate) use notes::note_event;
pub(crate) use redeliver::redeliver_callbacks;
pub(crate) use resend::{resend_links, resend_message};
pub(crate) use senders::{
    defer_for_slot, enqueue_paced, learn_sender, reserve_sender_slots, slot_reservations,
    waiting_for_sender,
};
// --- reconciliation ---
pub(crate) use reconcile::{
    await_reconcile, claim_receipt_checks, claim_reconcilable, count_awaiting_receipt,
    count_held_callbacks, hold_early_callback, mark_no_receipt, resolve, schedule_receipt_check,
    sweep_held_callbacks, sweep_stalled_sends, take_list_slot, uuids_of_others,
};

// --- media uploads ---
pub(crate) use uploads::{record_uploads, uploads};

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
