//! The durable message store: messages and their status history, idempotency keys and used webhook
//! nonces, behind the [`MessageStore`] trait.
//!
//! [`connect`] picks the backend from the URL scheme: `sqlite:` (the default, a file created when
//! missing, WAL, durable commits grouped by one writer thread) or `postgres:`/`postgresql:` (a pool).
//! Both run the same SQL (module `sql`, written against module `db`: sqlx's `Any` driver for
//! PostgreSQL and SQLite reads, `rusqlite` for the SQLite writer), and the same embedded migrations
//! (`migrations/`) at start-up. Times are stored as unix microseconds, so they round-trip to the
//! microsecond.

mod cursor;
mod db;
mod error;
mod inbound;
mod pg_maintenance;
mod postgres;
pub mod retention;
mod sql;
mod sql_store;
mod sqlite;
mod types;
mod writer;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use error::StoreError;
pub use inbound::{
    Direction, EventKind, InboundOutcome, NewForward, NewInbound, OptOutAction, OptOutChange,
    OptOutEntry, OptOutHistoryEntry, OptOutPage, OptOutSource, OptOutStatus,
};
pub use types::{
    CallbackAttempt, ClaimedMessage, Fleet, IdempotencyClaim, MessageEvent, MessagePage,
    MessageQuery, MessageRecord, MessageStatus, NewMessage, OutboxStats, PendingCallback,
    StatusUpdate, UnknownStatus, UpdateOutcome,
};
// --- sender pool, pacing, resend, redelivery ---
pub use types::{ResendOutcome, SlotGrant, SlotRequest};
// --- reconciliation ---
pub use types::{ReceiptCheck, ReconcileItem, Reconciled};
// --- media uploads ---
pub use types::UploadedMedia;

/// The schema, embedded in the binary; run by [`connect`].
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub use retention::DeleteOutcome;
pub use sql::{IDEMPOTENCY_TTL, NONCE_RETENTION};

/// A parameter of a statement the store sends, as [`listing_statements`] gives it.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlParam {
    Int(Option<i64>),
    Text(Option<String>),
}

/// The statements `list_messages` sends for `q`, exactly (SQL with `$1`, `$2`… and the values bound
/// to them): the page, then the events of `page_size` messages with `event_ids` bound. For the
/// query-plan tests (`tests/store/plans.rs`), so what they explain is what the service runs; not
/// part of the store's interface. Fails with [`StoreError::InvalidCursor`] as `list_messages` does.
#[doc(hidden)]
pub fn listing_statements(
    q: &MessageQuery,
    event_ids: &[&str],
) -> Result<Vec<(String, Vec<SqlParam>)>, StoreError> {
    let cursor = q
        .cursor
        .as_deref()
        .map(cursor::Cursor::decode)
        .transpose()?;
    let param = |value: db::Value| match value {
        db::Value::Int(n) => SqlParam::Int(n),
        db::Value::Text(text) => SqlParam::Text(text),
    };
    let (page, params) = sql::listing_statement(q, cursor.as_ref());
    let events = sql::events_statement(event_ids.len());
    let ids = event_ids
        .iter()
        .map(|id| SqlParam::Text(Some((*id).to_owned())))
        .collect();
    Ok(vec![
        (page, params.into_iter().map(param).collect()),
        (events, ids),
    ])
}

/// Everything the service stores. Implementations are safe to share between tasks.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Checks that the database answers (for `/ready`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Records a new message and moves it straight to `sending` (two events), in one write: the
    /// synchronous path, which calls Plivo right after. Fails with [`StoreError::DuplicateId`] if
    /// the id is taken.
    async fn insert_sending(&self, m: &NewMessage) -> Result<(), StoreError>;

    /// Moves a message forward (see [`MessageStatus::rank`]); atomic, so concurrent updates cannot
    /// interleave wrongly. An applied change appends an event and sets the UUID, error code and error
    /// message when given.
    async fn update_status(&self, id: &str, u: &StatusUpdate) -> Result<UpdateOutcome, StoreError>;

    /// As [`MessageStore::update_status`], finding the message by Plivo's message UUID.
    async fn update_status_by_uuid(
        &self,
        message_uuid: &str,
        u: &StatusUpdate,
    ) -> Result<UpdateOutcome, StoreError>;

    /// Flags that a request to Plivo ended without an answer, adding an event (status unchanged) with
    /// `detail`. Fails with [`StoreError::MessageNotFound`] for an unknown id.
    async fn mark_outcome_unknown(
        &self,
        id: &str,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The message with its events, or `None`.
    async fn get_message(&self, id: &str) -> Result<Option<MessageRecord>, StoreError>;

    /// One page of messages, newest first (`created_at` then `id`, descending), filtered as asked.
    /// Fails with [`StoreError::InvalidCursor`] for a cursor this store did not produce.
    async fn list_messages(&self, q: &MessageQuery) -> Result<MessagePage, StoreError>;

    /// Claims an idempotency key for a request whose body hashes to `request_hash`. Race-safe: one
    /// atomic upsert on the key's primary key, then a read. A key claimed more than 24 hours before
    /// `now` counts as absent and is taken over.
    async fn claim_idempotency_key(
        &self,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, StoreError>;

    /// Stores the answer later requests with the key replay. Does nothing if the key is not held.
    async fn complete_idempotency_key(
        &self,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), StoreError>;

    /// Forgets an in-flight claim (the request ended without an answer worth replaying). A completed
    /// key is kept.
    async fn release_idempotency_key(&self, key: &str) -> Result<(), StoreError>;

    /// Deletes idempotency keys claimed before `older_than`; returns how many.
    async fn purge_expired_idempotency_keys(
        &self,
        older_than: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// `true` the first time a (Plivo V2) nonce is seen, `false` after. A nonce linked to a message
    /// ([`MessageStore::link_nonce`]) is remembered as long as the message; others for 7 days, and
    /// are forgotten as new ones arrive.
    async fn use_nonce(&self, nonce: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    // --- webhook hardening ---

    /// Links a used nonce to the message whose Plivo UUID is `message_uuid` (nothing when no
    /// message has it): the nonce is then kept as long as that message and deleted with it.
    async fn link_nonce(&self, nonce: &str, message_uuid: &str) -> Result<(), StoreError>;

    // --- asynchronous delivery (the outbox) ---

    /// Records messages for asynchronous delivery (status `accepted`, due now, failing with
    /// `expired` after `deadline`), all in one transaction: once this returns, they are durable.
    async fn enqueue_messages(
        &self,
        messages: &[NewMessage],
        deadline: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Leases up to `limit` due messages to `owner` until `lease_until` (no two owners ever hold
    /// one message); `accepted` ones become `sending`. A message whose previous lease ran out is
    /// flagged `outcome_unknown`.
    async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, StoreError>;

    /// Ends a leased message's delivery with `u` (queued with Plivo's UUID, or failed) and takes it
    /// out of the outbox.
    async fn finish_delivery(
        &self,
        id: &str,
        u: &StatusUpdate,
    ) -> Result<UpdateOutcome, StoreError>;

    /// Puts a message leased to `owner` back in the outbox for `next_attempt_at`, with an event
    /// (`detail`); `outcome_unknown` flags that the failed attempt may have reached Plivo. Does
    /// nothing if `owner` no longer holds the lease (another worker took the message over).
    async fn retry_delivery(
        &self,
        owner: &str,
        id: &str,
        next_attempt_at: DateTime<Utc>,
        detail: &str,
        outcome_unknown: bool,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Gives back a lease `owner` holds and on which no attempt was made (graceful shutdown).
    async fn release_lease(&self, owner: &str, id: &str) -> Result<(), StoreError>;

    /// Outbox depth, the oldest message not yet handed to Plivo, and counts by status.
    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError>;

    /// Records this instance's heartbeat (with any pause it asks for after a 429) and returns how
    /// many instances share Plivo's limits and the latest pause any of them asked for.
    async fn heartbeat(
        &self,
        instance: &str,
        now: DateTime<Utc>,
        pause_until: Option<DateTime<Utc>>,
    ) -> Result<Fleet, StoreError>;

    /// Removes this instance from the fleet.
    async fn leave(&self, instance: &str) -> Result<(), StoreError>;

    // --- status events for callers (`callbackUrl`) ---

    /// Leases due status events, at most one per message (the earliest pending), so that each
    /// message's events go out in order.
    async fn claim_callbacks(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingCallback>, StoreError>;

    /// Records a try at posting an event; `next_attempt_at` is the next try (`None`: delivered or
    /// given up).
    async fn record_callback_attempt(
        &self,
        event_id: &str,
        attempt: &CallbackAttempt,
        next_attempt_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    // --- retention (README "Retention") ---

    /// Marks a message as ended at `at` unless it already is (a message left `sent` without a
    /// receipt at its deadline); a final status marks it by itself. `false` for an unknown id.
    /// In a transaction of its own; `sql::mark_ended` does the same inside another write.
    async fn mark_ended(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// `DELETE /messages/{id}`: removes an ended message with its events, caller events and
    /// attempts, and the idempotency record that created it.
    async fn delete_message(&self, id: &str) -> Result<DeleteOutcome, StoreError>;

    /// Deletes up to `limit` messages that ended before `ended_before`, as
    /// [`MessageStore::delete_message`] does; returns how many. One short transaction.
    async fn purge_ended_messages(
        &self,
        ended_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError>;

    /// Redacts up to `limit` messages that ended before `ended_before` and are not redacted yet;
    /// returns how many. One short transaction.
    async fn redact_ended_messages(
        &self,
        ended_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError>;

    /// Deletes up to `limit` idempotency keys claimed before `keys_before` and up to `limit` used
    /// nonces seen before `nonces_before`; returns how many rows went.
    async fn purge_expired_keys(
        &self,
        keys_before: DateTime<Utc>,
        nonces_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError>;

    // --- sender pool, pacing, resend, redelivery ---

    /// Reserves `count` consecutive slots of `interval` for `sender`, starting at the sender's next
    /// free slot or `now`, whichever is later, if that start is no later than `latest`. Atomic
    /// across every instance on the database.
    async fn reserve_sender_slots(
        &self,
        sender: &str,
        count: u32,
        interval: std::time::Duration,
        now: DateTime<Utc>,
        latest: DateTime<Utc>,
    ) -> Result<SlotGrant, StoreError>;

    /// As [`MessageStore::enqueue_messages`], with slots reserved in the same transaction for each
    /// request: its messages are due when their slot starts.
    async fn enqueue_paced(
        &self,
        messages: &[NewMessage],
        deadline: DateTime<Utc>,
        requests: &[SlotRequest],
        interval: std::time::Duration,
    ) -> Result<(), StoreError>;

    /// Which of `ids` were made due by a slot reservation (and so may go to Plivo at once).
    async fn slot_reservations(&self, ids: &[String]) -> Result<Vec<String>, StoreError>;

    /// Gives messages leased to `owner` back to the outbox until `due`, without an attempt,
    /// holding the slot reservation `slot` if any.
    async fn defer_for_slot(
        &self,
        owner: &str,
        ids: &[String],
        due: DateTime<Utc>,
        slot: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Messages waiting in the outbox for a reserved sender slot (for metrics).
    async fn waiting_for_sender(&self, now: DateTime<Utc>) -> Result<i64, StoreError>;

    /// Records the number Plivo sent a Powerpack message from, if the message has none yet.
    async fn learn_sender(&self, message_uuid: &str, sender: &str) -> Result<(), StoreError>;

    /// Creates a resend of message `id` as `new_id` (in the outbox, failing with `expired` after
    /// `deadline`).
    async fn resend_message(
        &self,
        id: &str,
        new_id: &str,
        now: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<ResendOutcome, StoreError>;

    /// Adds a note to the message's history (an event with its current status and `detail`).
    /// Fails with [`StoreError::MessageNotFound`] for an unknown id.
    async fn note_event(&self, id: &str, detail: &str, at: DateTime<Utc>)
        -> Result<(), StoreError>;

    /// Puts every exhausted status event with `occurred_at >= since` (of `message_id` only, when
    /// given) back for delivery with a new retry window; returns how many.
    async fn redeliver_callbacks(
        &self,
        since: DateTime<Utc>,
        message_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    // --- reconciliation (README "Delivery guarantees") ---

    /// Takes a message leased to `owner` out of the outbox after an attempt whose outcome is
    /// unknown (flagged, with `detail`): no further attempt until the reconciler has asked Plivo,
    /// settling from `from`. `plivo_log` is the `log` it was sent with.
    async fn await_reconcile(
        &self,
        owner: &str,
        id: &str,
        from: DateTime<Utc>,
        detail: &str,
        plivo_log: &str,
    ) -> Result<(), StoreError>;

    /// Flags synchronous sends still `sending` that were created before `cutoff` (their process
    /// stopped mid-send), for the reconciler; returns how many.
    async fn sweep_stalled_sends(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Leases up to `limit` messages due for a check with Plivo (flagged before `settled_before`,
    /// not postponed past `now`) until `lease_until`.
    async fn claim_reconcilable(
        &self,
        now: DateTime<Utc>,
        settled_before: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ReconcileItem>, StoreError>;

    /// Of `uuids`, those that belong to a stored message other than `id`.
    async fn uuids_of_others(&self, id: &str, uuids: &[String]) -> Result<Vec<String>, StoreError>;

    /// Records what Plivo's records said about a checked message (and ends its lease).
    async fn resolve_reconcile(
        &self,
        id: &str,
        outcome: &Reconciled,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Counts one List Message request within `max` a minute for all instances on this database;
    /// `false` (nothing counted) when the budget is spent.
    async fn take_list_slot(&self, now: DateTime<Utc>, max: u32) -> Result<bool, StoreError>;

    /// Keeps a valid status callback whose UUID no message has yet (for an hour), to be applied
    /// as soon as a message takes that UUID.
    async fn hold_early_callback(
        &self,
        message_uuid: &str,
        u: &StatusUpdate,
    ) -> Result<(), StoreError>;

    /// Applies held callbacks whose UUID a message has taken meanwhile; returns how many UUIDs.
    async fn sweep_held_callbacks(&self) -> Result<u64, StoreError>;

    /// Leases up to `limit` `queued`/`sent` messages whose receipt lookup is due (see
    /// `sql::reconcile::claim_receipt_checks`), counting one lookup each.
    async fn claim_receipt_checks(
        &self,
        now: DateTime<Utc>,
        first_due_before: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ReceiptCheck>, StoreError>;

    /// Sets (or clears) the time of a message's next receipt lookup.
    async fn schedule_receipt_check(
        &self,
        id: &str,
        next: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// At its deadline, a message still `queued`/`sent` gets an event `no_receipt` and keeps its
    /// status; no more lookups. The one place this is written.
    async fn mark_no_receipt(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Messages waiting for a receipt and early callbacks held, each counted up to `cap`.
    async fn reconcile_gauges(&self, cap: i64) -> Result<(i64, i64), StoreError>;

    // --- inbound messages and opt-outs ---

    /// Stores an inbound message unless one with its `message_uuid` is stored (then nothing changes:
    /// [`InboundOutcome::Repeat`]). A new one also queues `forward` (to `INBOUND_CALLBACK_URL`) and
    /// applies `change` (a STOP or START), in the same transaction.
    async fn record_inbound(
        &self,
        m: &NewInbound,
        forward: Option<&NewForward>,
        change: Option<&OptOutChange>,
    ) -> Result<InboundOutcome, StoreError>;

    /// Puts a number on the opt-out list or takes it off, with a history entry; returns whether
    /// anything was recorded (see `sql::optouts::apply_change`).
    async fn change_opt_out(&self, change: &OptOutChange) -> Result<bool, StoreError>;

    /// Which of `numbers` (E.164) are on the opt-out list: one indexed lookup each, read from the
    /// database every time, so a change made by any instance counts at once.
    async fn opted_out(&self, numbers: &[String]) -> Result<Vec<String>, StoreError>;

    /// A page of the opt-out list, newest first (`limit` clamped to 1–1000).
    async fn list_opt_outs(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<OptOutPage, StoreError>;

    /// A number's place on the list and its history.
    async fn opt_out_status(&self, number: &str) -> Result<OptOutStatus, StoreError>;
    // --- media uploads ---

    /// Records the files uploaded to Plivo for message `id` (which must be stored), in order;
    /// `GET /messages/{id}` shows them as `uploads`. Once per message.
    async fn record_uploads(&self, id: &str, uploads: &[UploadedMedia]) -> Result<(), StoreError>;
}

/// Tuning for [`connect_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// SQLite: the most writes committed together in one transaction (1 turns grouping off).
    pub sqlite_max_batch: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            sqlite_max_batch: 256,
        }
    }
}

/// Opens the store at `database_url` (`sqlite:…` or `postgres://…`) with default options and runs the
/// migrations. Errors never contain the URL.
pub async fn connect(database_url: &str) -> Result<Arc<dyn MessageStore>, StoreError> {
    connect_with(database_url, &StoreOptions::default()).await
}

/// As [`connect`], with explicit [`StoreOptions`].
pub async fn connect_with(
    database_url: &str,
    options: &StoreOptions,
) -> Result<Arc<dyn MessageStore>, StoreError> {
    sqlx::any::install_default_drivers();
    let scheme = database_url
        .split_once(':')
        .map(|(scheme, _)| scheme)
        .filter(|s| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        })
        .unwrap_or("");
    let store = match scheme {
        "sqlite" => sqlite::open(database_url, options.sqlite_max_batch).await?,
        "postgres" | "postgresql" => postgres::open(database_url).await?,
        other => {
            return Err(StoreError::UnsupportedUrl {
                scheme: other.to_owned(),
            })
        }
    };
    Ok(Arc::new(store))
}
