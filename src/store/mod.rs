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
mod postgres;
mod sql;
mod sql_store;
mod sqlite;
mod types;
mod writer;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use error::StoreError;
pub use types::{
    CallbackAttempt, ClaimedMessage, Fleet, IdempotencyClaim, MessageEvent, MessagePage,
    MessageQuery, MessageRecord, MessageStatus, NewMessage, OutboxStats, PendingCallback,
    StatusUpdate, UnknownStatus, UpdateOutcome,
};

/// The schema, embedded in the binary; run by [`connect`].
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Everything the service stores. Implementations are safe to share between tasks.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Checks that the database answers (for `/ready`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Records a new message with status `accepted` and an `accepted` event.
    /// Fails with [`StoreError::DuplicateId`] if the id is taken.
    async fn insert_message(&self, m: &NewMessage) -> Result<(), StoreError>;

    /// Records a new message and moves it straight to `sending` (two events), in one write: the
    /// synchronous path, which calls Plivo right after.
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
