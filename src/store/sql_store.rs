//! [`Store`]: everything the service stores, one type for SQLite and PostgreSQL alike.
//!
//! Each method runs statements of [`super::sql`]. Reads go to a pool; writes go either through the
//! SQLite group-commit [`Writer`] or straight to the PostgreSQL pool, each in its own transaction.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::AnyPool;

use super::db::Db;
use super::dialect::Dialect;

use super::sql::{self, MessageKey};
use super::writer::{Work, Writer};
use super::DeleteOutcome;
use super::{
    CallbackAttempt, ClaimedMessage, Fleet, IdempotencyClaim, MessagePage, MessageQuery,
    MessageRecord, NewMessage, OutboxStats, PendingCallback, StatusUpdate, StoreError,
    UpdateOutcome,
};
// --- sender pool, pacing, resend, redelivery ---
use super::{ResendOutcome, SlotGrant, SlotRequest};
// --- reconciliation ---
use super::{ReceiptCheck, ReconcileItem, Reconciled};
// --- inbound messages and opt-outs ---
use super::{InboundOutcome, NewForward, NewInbound, OptOutChange, OptOutPage, OptOutStatus};
// --- media uploads ---
use super::UploadedMedia;

/// How writes reach the database.
pub(crate) enum Writes {
    /// A transaction per write on a pool (PostgreSQL).
    Direct(AnyPool),
    /// Grouped into shared transactions by one writer task (SQLite).
    Grouped(Writer),
}

/// The message store: messages and their history, idempotency keys, nonces, the outbox, the
/// fleet, caller events, opt-outs. Shared between tasks as an `Arc<Store>`.
pub struct Store {
    reads: AnyPool,
    writes: Writes,
    /// The SQL the database speaks, as the opener chose it.
    dialect: Dialect,
}

impl Store {
    pub(crate) fn new(reads: AnyPool, writes: Writes, dialect: Dialect) -> Store {
        Store {
            reads,
            writes,
            dialect,
        }
    }

    /// Runs `work` in a write transaction and returns its result once committed.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Db) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        let work: Work<T> = Box::new(work);
        match &self.writes {
            Writes::Grouped(writer) => writer.submit(work).await,
            Writes::Direct(pool) => {
                let mut tx = pool.begin().await?;
                let value = work(&mut *tx).await?;
                tx.commit().await?;
                Ok(value)
            }
        }
    }

    /// A status update of the message(s) whose `by` column equals `key`.
    async fn update_by(
        &self,
        by: MessageKey,
        key: &str,
        u: &StatusUpdate,
    ) -> Result<UpdateOutcome, StoreError> {
        let (key, u) = (key.to_owned(), u.clone());
        self.write(move |c| Box::pin(async move { sql::update_status(c, by, &key, &u).await }))
            .await
    }
}

impl Store {
    /// Checks that the database answers (for `/ready`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        if let Writes::Grouped(writer) = &self.writes {
            if !writer.is_running() {
                return Err(StoreError::WriterStopped);
            }
        }
        let mut conn = self.reads.acquire().await?;
        sql::ping(&mut *conn).await
    }

    /// Records a new message and moves it straight to `sending` (two events), in one write: the
    /// synchronous path, which calls Plivo right after. Fails with [`StoreError::DuplicateId`] if
    /// the id is taken.
    pub async fn insert_sending(&self, m: &NewMessage) -> Result<(), StoreError> {
        let m = m.clone();
        self.write(move |c| Box::pin(async move { sql::insert_sending(c, &m).await }))
            .await
    }

    /// Moves a message forward (see [`MessageStatus::rank`]); atomic, so concurrent updates cannot
    /// interleave wrongly. An applied change appends an event and sets the UUID, error code and error
    /// message when given.
    pub async fn update_status(
        &self,
        id: &str,
        u: &StatusUpdate,
    ) -> Result<UpdateOutcome, StoreError> {
        self.update_by(MessageKey::Id, id, u).await
    }

    /// As [`Store::update_status`], finding the message by Plivo's message UUID.
    pub async fn update_status_by_uuid(
        &self,
        message_uuid: &str,
        u: &StatusUpdate,
    ) -> Result<UpdateOutcome, StoreError> {
        self.update_by(MessageKey::Uuid, message_uuid, u).await
    }

    /// Flags that a request to Plivo ended without an answer, adding an event (status unchanged) with
    /// `detail`. Fails with [`StoreError::MessageNotFound`] for an unknown id.
    pub async fn mark_outcome_unknown(
        &self,
        id: &str,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (id, detail) = (id.to_owned(), detail.to_owned());
        self.write(move |c| {
            Box::pin(async move { sql::mark_outcome_unknown(c, &id, &detail, at).await })
        })
        .await
    }

    /// The message with its events, or `None`.
    pub async fn get_message(&self, id: &str) -> Result<Option<MessageRecord>, StoreError> {
        // One read transaction, so the message and its events come from one snapshot.
        let mut tx = self.reads.begin().await?;
        let mut record = sql::get_message(&mut *tx, id).await?;
        if let Some(record) = record.as_mut() {
            record.callback_attempts = Some(sql::callback_attempts(&mut *tx, id).await?);
            // --- resend ---
            let (resend_of, resent_as) = sql::resend_links(&mut *tx, id).await?;
            record.resend_of = resend_of;
            record.resent_as = resent_as;
            // --- media uploads ---
            let uploads = sql::uploads(&mut *tx, id).await?;
            record.uploads = (!uploads.is_empty()).then_some(uploads);
        }
        tx.commit().await?;
        Ok(record)
    }

    /// One page of messages, newest first (`created_at` then `id`, descending), filtered as asked.
    /// Fails with [`StoreError::InvalidCursor`] for a cursor this store did not produce.
    pub async fn list_messages(&self, q: &MessageQuery) -> Result<MessagePage, StoreError> {
        let mut tx = self.reads.begin().await?;
        let page = sql::list_messages(&mut *tx, q).await?;
        tx.commit().await?;
        Ok(page)
    }

    /// Claims an idempotency key for a request whose body hashes to `request_hash`. Race-safe: one
    /// atomic upsert on the key's primary key, then a read. A key claimed more than 24 hours before
    /// `now` counts as absent and is taken over.
    pub async fn claim_idempotency_key(
        &self,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, StoreError> {
        let (key, hash) = (key.to_owned(), request_hash.to_owned());
        self.write(move |c| {
            Box::pin(async move { sql::claim_idempotency_key(c, &key, &hash, now).await })
        })
        .await
    }

    /// Stores the answer later requests with the key replay. Does nothing if the key is not held.
    pub async fn complete_idempotency_key(
        &self,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), StoreError> {
        let (key, body) = (key.to_owned(), body.to_vec());
        self.write(move |c| {
            Box::pin(async move { sql::complete_idempotency_key(c, &key, status, &body).await })
        })
        .await
    }

    /// Forgets an in-flight claim (the request ended without an answer worth replaying). A completed
    /// key is kept.
    pub async fn release_idempotency_key(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |c| Box::pin(async move { sql::release_idempotency_key(c, &key).await }))
            .await
    }

    /// Deletes idempotency keys claimed before `older_than`; returns how many.
    pub async fn purge_expired_idempotency_keys(
        &self,
        older_than: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.write(move |c| Box::pin(sql::purge_expired_idempotency_keys(c, older_than)))
            .await
    }

    /// `true` the first time a (Plivo V2) nonce is seen, `false` after. A nonce linked to a message
    /// ([`Store::link_nonce`]) is remembered as long as the message; others for 7 days, and
    /// are forgotten as new ones arrive.
    pub async fn use_nonce(&self, nonce: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let nonce = nonce.to_owned();
        self.write(move |c| Box::pin(async move { sql::use_nonce(c, &nonce, now).await }))
            .await
    }

    // --- webhook hardening ---
    /// Links a used nonce to the message whose Plivo UUID is `message_uuid` (nothing when no
    /// message has it): the nonce is then kept as long as that message and deleted with it.
    pub async fn link_nonce(&self, nonce: &str, message_uuid: &str) -> Result<(), StoreError> {
        let (nonce, uuid) = (nonce.to_owned(), message_uuid.to_owned());
        self.write(move |c| Box::pin(async move { sql::link_nonce(c, &nonce, &uuid).await }))
            .await
    }

    /// Records messages for asynchronous delivery (status `accepted`, due now, failing with
    /// `expired` after `deadline`), all in one transaction: once this returns, they are durable.
    pub async fn enqueue_messages(
        &self,
        messages: &[NewMessage],
        deadline: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let messages = messages.to_vec();
        self.write(move |c| {
            Box::pin(async move { sql::enqueue_messages(c, &messages, deadline).await })
        })
        .await
    }

    /// Leases up to `limit` due messages to `owner` until `lease_until` (no two owners ever hold
    /// one message); `accepted` ones become `sending`. A message whose previous lease ran out is
    /// flagged `outcome_unknown`.
    pub async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, StoreError> {
        let owner = owner.to_owned();
        let dialect = self.dialect;
        self.write(move |c| {
            Box::pin(
                async move { sql::claim_due(c, &owner, now, lease_until, limit, dialect).await },
            )
        })
        .await
    }

    /// Ends a leased message's delivery with `u` (queued with Plivo's UUID, or failed) and takes it
    /// out of the outbox.
    pub async fn finish_delivery(
        &self,
        id: &str,
        u: &StatusUpdate,
    ) -> Result<UpdateOutcome, StoreError> {
        let (id, u) = (id.to_owned(), u.clone());
        self.write(move |c| Box::pin(async move { sql::finish_delivery(c, &id, &u).await }))
            .await
    }

    /// Puts a message leased to `owner` back in the outbox for `next_attempt_at`, with an event
    /// (`detail`); `outcome_unknown` flags that the failed attempt may have reached Plivo. Does
    /// nothing if `owner` no longer holds the lease (another worker took the message over).
    pub async fn retry_delivery(
        &self,
        owner: &str,
        id: &str,
        next_attempt_at: DateTime<Utc>,
        detail: &str,
        outcome_unknown: bool,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (owner, id, detail) = (owner.to_owned(), id.to_owned(), detail.to_owned());
        self.write(move |c| {
            Box::pin(async move {
                sql::retry_delivery(
                    c,
                    &owner,
                    &id,
                    next_attempt_at,
                    &detail,
                    outcome_unknown,
                    at,
                )
                .await
            })
        })
        .await
    }

    /// Gives back a lease `owner` holds and on which no attempt was made (graceful shutdown).
    pub async fn release_lease(&self, owner: &str, id: &str) -> Result<(), StoreError> {
        let (owner, id) = (owner.to_owned(), id.to_owned());
        self.write(move |c| Box::pin(async move { sql::release_lease(c, &owner, &id).await }))
            .await
    }

    /// Outbox depth, the oldest message not yet handed to Plivo, and counts by status.
    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        // One snapshot for every number: counts read a moment apart could show one message in
        // two statuses (`accepted`, then `sending` once a worker took it).
        let mut tx = self.reads.begin().await?;
        if let Some(snapshot) = self.dialect.snapshot_reads() {
            sqlx::query(snapshot).execute(&mut *tx).await?;
        }
        let stats = sql::outbox_stats(&mut *tx).await?;
        tx.rollback().await?;
        Ok(stats)
    }

    /// Records this instance's heartbeat (with any pause it asks for after a 429) and returns how
    /// many instances share Plivo's limits and the latest pause any of them asked for (also one
    /// that has left since, while its pause lasts).
    pub async fn heartbeat(
        &self,
        instance: &str,
        now: DateTime<Utc>,
        pause_until: Option<DateTime<Utc>>,
    ) -> Result<Fleet, StoreError> {
        let instance = instance.to_owned();
        self.write(move |c| {
            Box::pin(async move { sql::heartbeat(c, &instance, now, pause_until).await })
        })
        .await
    }

    /// Removes this instance from the fleet; a pause it asked for after a 429 (`pause_until`, if
    /// later than `now`) stays for the others until it is over.
    pub async fn leave(
        &self,
        instance: &str,
        now: DateTime<Utc>,
        pause_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let instance = instance.to_owned();
        self.write(move |c| {
            Box::pin(async move { sql::leave(c, &instance, now, pause_until).await })
        })
        .await
    }

    /// Leases due status events, at most one per message (the earliest pending), so that each
    /// message's events go out in order.
    pub async fn claim_callbacks(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingCallback>, StoreError> {
        self.write(move |c| {
            Box::pin(async move { sql::claim_callbacks(c, now, lease_until, limit).await })
        })
        .await
    }

    /// Records a try at posting an event; `next_attempt_at` is the next try (`None`: delivered or
    /// given up).
    pub async fn record_callback_attempt(
        &self,
        event_id: &str,
        attempt: &CallbackAttempt,
        next_attempt_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let (event_id, attempt) = (event_id.to_owned(), attempt.clone());
        self.write(move |c| {
            Box::pin(async move {
                sql::record_callback_attempt(c, &event_id, &attempt, next_attempt_at).await
            })
        })
        .await
    }

    // --- retention ---

    /// Marks a message as ended at `at` unless it already is (a message left `sent` without a
    /// receipt at its deadline); a final status marks it by itself. `false` for an unknown id.
    /// In a transaction of its own; `sql::mark_ended` does the same inside another write.
    pub async fn mark_ended(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |c| Box::pin(async move { sql::mark_ended(c, &id, at).await }))
            .await
    }

    /// `DELETE /messages/{id}`: removes an ended message with its events, caller events and
    /// attempts, and the idempotency record that created it.
    pub async fn delete_message(&self, id: &str) -> Result<DeleteOutcome, StoreError> {
        let id = id.to_owned();
        self.write(move |c| Box::pin(async move { sql::delete_message(c, &id).await }))
            .await
    }

    /// Deletes up to `limit` messages that ended before `ended_before`, as
    /// [`Store::delete_message`] does; returns how many. One short transaction.
    pub async fn purge_ended_messages(
        &self,
        ended_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        self.write(move |c| Box::pin(sql::purge_ended(c, ended_before, limit)))
            .await
    }

    /// Redacts up to `limit` messages that ended before `ended_before` and are not redacted yet;
    /// returns how many. One short transaction.
    pub async fn redact_ended_messages(
        &self,
        ended_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        self.write(move |c| Box::pin(sql::redact_ended(c, ended_before, limit)))
            .await
    }

    /// Deletes up to `limit` idempotency keys claimed before `keys_before` and up to `limit` used
    /// nonces seen before `nonces_before`; returns how many rows went.
    pub async fn purge_expired_keys(
        &self,
        keys_before: DateTime<Utc>,
        nonces_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        self.write(move |c| {
            Box::pin(sql::purge_expired_keys(
                c,
                keys_before,
                nonces_before,
                limit,
            ))
        })
        .await
    }

    // --- reconciliation ---

    /// Takes a message leased to `owner` out of the outbox after an attempt whose outcome is
    /// unknown (flagged, with `detail`): no further attempt until the reconciler has asked Plivo,
    /// settling from `from`. `plivo_log` is the `log` it was sent with.
    pub async fn await_reconcile(
        &self,
        owner: &str,
        id: &str,
        from: DateTime<Utc>,
        detail: &str,
        plivo_log: &str,
    ) -> Result<(), StoreError> {
        let (owner, id, detail, log) = (
            owner.to_owned(),
            id.to_owned(),
            detail.to_owned(),
            plivo_log.to_owned(),
        );
        self.write(move |c| {
            Box::pin(async move { sql::await_reconcile(c, &owner, &id, from, &detail, &log).await })
        })
        .await
    }

    /// Flags synchronous sends still `sending` that were created before `cutoff` (their process
    /// stopped mid-send), for the reconciler; returns how many.
    pub async fn sweep_stalled_sends(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.write(move |c| Box::pin(sql::sweep_stalled_sends(c, cutoff, now)))
            .await
    }

    /// Leases up to `limit` messages due for a check with Plivo (flagged before `settled_before`,
    /// not postponed past `now`) until `lease_until`.
    pub async fn claim_reconcilable(
        &self,
        now: DateTime<Utc>,
        settled_before: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ReconcileItem>, StoreError> {
        self.write(move |c| {
            Box::pin(sql::claim_reconcilable(
                c,
                now,
                settled_before,
                lease_until,
                limit,
            ))
        })
        .await
    }

    // --- sender pool, pacing, resend, redelivery ---

    /// Reserves `count` consecutive slots of `interval` for `sender`, starting at the sender's next
    /// free slot or `now`, whichever is later, if that start is no later than `latest`. Atomic
    /// across every instance on the database.
    pub async fn reserve_sender_slots(
        &self,
        sender: &str,
        count: u32,
        interval: std::time::Duration,
        now: DateTime<Utc>,
        latest: DateTime<Utc>,
    ) -> Result<SlotGrant, StoreError> {
        let sender = sender.to_owned();
        let dialect = self.dialect;
        self.write(move |c| {
            Box::pin(async move {
                sql::reserve_sender_slots(c, &sender, count, interval, now, latest, dialect).await
            })
        })
        .await
    }

    /// As [`Store::enqueue_messages`], with slots reserved in the same transaction for each
    /// request: its messages are due when their slot starts.
    pub async fn enqueue_paced(
        &self,
        messages: &[NewMessage],
        deadline: DateTime<Utc>,
        requests: &[SlotRequest],
        interval: std::time::Duration,
    ) -> Result<(), StoreError> {
        let (messages, requests) = (messages.to_vec(), requests.to_vec());
        let dialect = self.dialect;
        self.write(move |c| {
            Box::pin(async move {
                let now = Utc::now();
                sql::enqueue_paced(c, &messages, deadline, &requests, interval, now, dialect).await
            })
        })
        .await
    }

    /// Which of `ids` were made due by a slot reservation (and so may go to Plivo at once).
    pub async fn slot_reservations(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut conn = self.reads.acquire().await?;
        sql::slot_reservations(&mut *conn, ids).await
    }

    /// Gives messages leased to `owner` back to the outbox until `due`, without an attempt,
    /// holding the slot reservation `slot` if any.
    pub async fn defer_for_slot(
        &self,
        owner: &str,
        ids: &[String],
        due: DateTime<Utc>,
        slot: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let (owner, ids) = (owner.to_owned(), ids.to_vec());
        self.write(move |c| {
            Box::pin(async move { sql::defer_for_slot(c, &owner, &ids, due, slot).await })
        })
        .await
    }

    /// Messages waiting in the outbox for a reserved sender slot (for metrics).
    pub async fn waiting_for_sender(&self, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let mut conn = self.reads.acquire().await?;
        sql::waiting_for_sender(&mut *conn, now).await
    }

    /// Records the number Plivo sent a Powerpack message from, if the message has none yet.
    pub async fn learn_sender(&self, message_uuid: &str, sender: &str) -> Result<(), StoreError> {
        let (uuid, sender) = (message_uuid.to_owned(), sender.to_owned());
        self.write(move |c| Box::pin(async move { sql::learn_sender(c, &uuid, &sender).await }))
            .await
    }

    /// Creates a resend of message `id` as `new_id` (in the outbox, failing with `expired` after
    /// `deadline`).
    pub async fn resend_message(
        &self,
        id: &str,
        new_id: &str,
        now: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Result<ResendOutcome, StoreError> {
        let (id, new_id) = (id.to_owned(), new_id.to_owned());
        self.write(move |c| {
            Box::pin(async move { sql::resend_message(c, &id, &new_id, now, deadline).await })
        })
        .await
    }

    /// Adds a note to the message's history (an event with its current status and `detail`).
    /// Fails with [`StoreError::MessageNotFound`] for an unknown id.
    pub async fn note_event(
        &self,
        id: &str,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (id, detail) = (id.to_owned(), detail.to_owned());
        self.write(move |c| Box::pin(async move { sql::note_event(c, &id, &detail, at).await }))
            .await
    }

    /// Puts every exhausted status event with `occurred_at >= since` (of `message_id` only, when
    /// given) back for delivery with a new retry window; returns how many.
    pub async fn redeliver_callbacks(
        &self,
        since: DateTime<Utc>,
        message_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let message_id = message_id.map(str::to_owned);
        self.write(move |c| {
            Box::pin(
                async move { sql::redeliver_callbacks(c, since, message_id.as_deref(), now).await },
            )
        })
        .await
    }

    // --- inbound messages and opt-outs ---

    /// Stores an inbound message unless one with its `message_uuid` is stored (then nothing changes:
    /// [`InboundOutcome::Repeat`]). A new one also queues `forward` (to `INBOUND_CALLBACK_URL`) and
    /// applies `change` (a STOP or START), in the same transaction.
    pub async fn record_inbound(
        &self,
        m: &NewInbound,
        forward: Option<&NewForward>,
        change: Option<&OptOutChange>,
    ) -> Result<InboundOutcome, StoreError> {
        let (m, forward, change) = (m.clone(), forward.cloned(), change.cloned());
        self.write(move |c| {
            Box::pin(
                async move { sql::record_inbound(c, &m, forward.as_ref(), change.as_ref()).await },
            )
        })
        .await
    }
    /// Of `uuids`, those that belong to a stored message other than `id`.
    pub async fn uuids_of_others(
        &self,
        id: &str,
        uuids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.reads.acquire().await?;
        sql::uuids_of_others(&mut *conn, id, uuids).await
    }

    /// Records what Plivo's records said about a checked message (and ends its lease).
    pub async fn resolve_reconcile(
        &self,
        id: &str,
        outcome: &Reconciled,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (id, outcome) = (id.to_owned(), outcome.clone());
        self.write(move |c| Box::pin(async move { sql::resolve(c, &id, &outcome, at).await }))
            .await
    }

    /// Counts one List Message request within `max` a minute for all instances on this database;
    /// `false` (nothing counted) when the budget is spent.
    pub async fn take_list_slot(&self, now: DateTime<Utc>, max: u32) -> Result<bool, StoreError> {
        self.write(move |c| Box::pin(sql::take_list_slot(c, now, max)))
            .await
    }

    /// Keeps a valid status callback whose UUID no message has yet (for an hour), to be applied
    /// as soon as a message takes that UUID.
    pub async fn hold_early_callback(
        &self,
        message_uuid: &str,
        u: &StatusUpdate,
    ) -> Result<(), StoreError> {
        let (uuid, u) = (message_uuid.to_owned(), u.clone());
        self.write(move |c| Box::pin(async move { sql::hold_early_callback(c, &uuid, &u).await }))
            .await
    }

    /// Applies held callbacks whose UUID a message has taken meanwhile; returns how many UUIDs.
    pub async fn sweep_held_callbacks(&self) -> Result<u64, StoreError> {
        self.write(move |c| Box::pin(sql::sweep_held_callbacks(c)))
            .await
    }

    /// Leases up to `limit` `queued`/`sent` messages whose receipt lookup is due (see
    /// `sql::reconcile::claim_receipt_checks`), counting one lookup each.
    pub async fn claim_receipt_checks(
        &self,
        now: DateTime<Utc>,
        first_due_before: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ReceiptCheck>, StoreError> {
        self.write(move |c| {
            Box::pin(sql::claim_receipt_checks(
                c,
                now,
                first_due_before,
                lease_until,
                limit,
            ))
        })
        .await
    }

    /// Sets (or clears) the time of a message's next receipt lookup.
    pub async fn schedule_receipt_check(
        &self,
        id: &str,
        next: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.write(move |c| {
            Box::pin(async move { sql::schedule_receipt_check(c, &id, next).await })
        })
        .await
    }

    /// At its deadline, a message still `queued`/`sent` gets an event `no_receipt` and keeps its
    /// status; no more lookups. The one place this is written.
    pub async fn mark_no_receipt(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.write(move |c| Box::pin(async move { sql::mark_no_receipt(c, &id, at).await }))
            .await
    }

    /// Messages waiting for a receipt and early callbacks held, each counted up to `cap`.
    pub async fn reconcile_gauges(&self, cap: i64) -> Result<(i64, i64), StoreError> {
        let mut conn = self.reads.acquire().await?;
        let awaiting = sql::count_awaiting_receipt(&mut *conn, cap).await?;
        let held = sql::count_held_callbacks(&mut *conn, cap).await?;
        Ok((awaiting, held))
    }

    /// Puts a number on the opt-out list or takes it off, with a history entry; returns whether
    /// anything was recorded (see `sql::optouts::apply_change`).
    pub async fn change_opt_out(&self, change: &OptOutChange) -> Result<bool, StoreError> {
        let change = change.clone();
        self.write(move |c| Box::pin(async move { sql::apply_change(c, &change).await }))
            .await
    }

    /// Which of `numbers` (E.164) are on the opt-out list: one indexed lookup each, read from the
    /// database every time, so a change made by any instance counts at once.
    pub async fn opted_out(&self, numbers: &[String]) -> Result<Vec<String>, StoreError> {
        // Every send asks this. On SQLite the writer thread answers it between its groups of
        // writes (one indexed read of a small table), cheaper than a hop to a reader thread.
        if let Writes::Grouped(writer) = &self.writes {
            let numbers = numbers.to_vec();
            return writer
                .read(Box::new(move |c| {
                    Box::pin(async move { sql::opted_out(c, &numbers).await })
                }))
                .await;
        }
        let mut conn = self.reads.acquire().await?;
        sql::opted_out(&mut *conn, numbers).await
    }

    /// A page of the opt-out list, newest first (`limit` clamped to 1–1000).
    pub async fn list_opt_outs(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<OptOutPage, StoreError> {
        let mut conn = self.reads.acquire().await?;
        sql::list_opt_outs(&mut *conn, limit, cursor).await
    }

    /// A number's place on the list and its history.
    pub async fn opt_out_status(&self, number: &str) -> Result<OptOutStatus, StoreError> {
        let mut tx = self.reads.begin().await?;
        let status = sql::opt_out_status(&mut *tx, number).await?;
        tx.commit().await?;
        Ok(status)
    }
    // --- media uploads ---
    /// Records the files uploaded to Plivo for message `id` (which must be stored), in order;
    /// `GET /messages/{id}` shows them as `uploads`. Once per message.
    pub async fn record_uploads(
        &self,
        id: &str,
        uploads: &[UploadedMedia],
    ) -> Result<(), StoreError> {
        let (id, uploads) = (id.to_owned(), uploads.to_vec());
        self.write(move |c| Box::pin(async move { sql::record_uploads(c, &id, &uploads).await }))
            .await
    }
}
