//! [`SqlStore`]: the one [`MessageStore`] implementation, for SQLite and PostgreSQL alike.
//!
//! Reads go to a pool; writes go either through the SQLite group-commit [`Writer`] or straight to the
//! PostgreSQL pool, each in its own transaction. The SQL itself is in [`super::sql`].

use async_trait::async_trait;
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
    MessageRecord, MessageStore, NewMessage, OutboxStats, PendingCallback, StatusUpdate,
    StoreError, UpdateOutcome,
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

/// A message store over an `Any` pool.
pub(crate) struct SqlStore {
    reads: AnyPool,
    writes: Writes,
    /// The SQL the database speaks, as the opener chose it.
    dialect: Dialect,
}

impl SqlStore {
    pub(crate) fn new(reads: AnyPool, writes: Writes, dialect: Dialect) -> SqlStore {
        SqlStore {
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

#[async_trait]
impl MessageStore for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        if let Writes::Grouped(writer) = &self.writes {
            if !writer.is_running() {
                return Err(StoreError::WriterStopped);
            }
        }
        let mut conn = self.reads.acquire().await?;
        sql::ping(&mut *conn).await
    }

    async fn insert_sending(&self, m: &NewMessage) -> Result<(), StoreError> {
        let m = m.clone();
        self.write(move |c| Box::pin(async move { sql::insert_sending(c, &m).await }))
            .await
    }

    async fn update_status(&self, id: &str, u: &StatusUpdate) -> Result<UpdateOutcome, StoreError> {
        self.update_by(MessageKey::Id, id, u).await
    }

    async fn update_status_by_uuid(
        &self,
        message_uuid: &str,
        u: &StatusUpdate,
    ) -> Result<UpdateOutcome, StoreError> {
        self.update_by(MessageKey::Uuid, message_uuid, u).await
    }

    async fn mark_outcome_unknown(
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

    async fn get_message(&self, id: &str) -> Result<Option<MessageRecord>, StoreError> {
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

    async fn list_messages(&self, q: &MessageQuery) -> Result<MessagePage, StoreError> {
        let mut tx = self.reads.begin().await?;
        let page = sql::list_messages(&mut *tx, q).await?;
        tx.commit().await?;
        Ok(page)
    }

    async fn claim_idempotency_key(
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

    async fn complete_idempotency_key(
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

    async fn release_idempotency_key(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |c| Box::pin(async move { sql::release_idempotency_key(c, &key).await }))
            .await
    }

    async fn purge_expired_idempotency_keys(
        &self,
        older_than: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.write(move |c| Box::pin(sql::purge_expired_idempotency_keys(c, older_than)))
            .await
    }

    async fn use_nonce(&self, nonce: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let nonce = nonce.to_owned();
        self.write(move |c| Box::pin(async move { sql::use_nonce(c, &nonce, now).await }))
            .await
    }

    // --- webhook hardening ---
    async fn link_nonce(&self, nonce: &str, message_uuid: &str) -> Result<(), StoreError> {
        let (nonce, uuid) = (nonce.to_owned(), message_uuid.to_owned());
        self.write(move |c| Box::pin(async move { sql::link_nonce(c, &nonce, &uuid).await }))
            .await
    }

    async fn enqueue_messages(
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

    async fn claim_due(
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

    async fn finish_delivery(
        &self,
        id: &str,
        u: &StatusUpdate,
    ) -> Result<UpdateOutcome, StoreError> {
        let (id, u) = (id.to_owned(), u.clone());
        self.write(move |c| Box::pin(async move { sql::finish_delivery(c, &id, &u).await }))
            .await
    }

    async fn retry_delivery(
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

    async fn release_lease(&self, owner: &str, id: &str) -> Result<(), StoreError> {
        let (owner, id) = (owner.to_owned(), id.to_owned());
        self.write(move |c| Box::pin(async move { sql::release_lease(c, &owner, &id).await }))
            .await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let mut conn = self.reads.acquire().await?;
        sql::outbox_stats(&mut *conn).await
    }

    async fn heartbeat(
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

    async fn leave(&self, instance: &str) -> Result<(), StoreError> {
        let instance = instance.to_owned();
        self.write(move |c| Box::pin(async move { sql::leave(c, &instance).await }))
            .await
    }

    async fn claim_callbacks(
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

    async fn record_callback_attempt(
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

    async fn mark_ended(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |c| Box::pin(async move { sql::mark_ended(c, &id, at).await }))
            .await
    }

    async fn delete_message(&self, id: &str) -> Result<DeleteOutcome, StoreError> {
        let id = id.to_owned();
        self.write(move |c| Box::pin(async move { sql::delete_message(c, &id).await }))
            .await
    }

    async fn purge_ended_messages(
        &self,
        ended_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        self.write(move |c| Box::pin(sql::purge_ended(c, ended_before, limit)))
            .await
    }

    async fn redact_ended_messages(
        &self,
        ended_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        self.write(move |c| Box::pin(sql::redact_ended(c, ended_before, limit)))
            .await
    }

    async fn purge_expired_keys(
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

    async fn await_reconcile(
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

    async fn sweep_stalled_sends(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.write(move |c| Box::pin(sql::sweep_stalled_sends(c, cutoff, now)))
            .await
    }

    async fn claim_reconcilable(
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

    async fn reserve_sender_slots(
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

    async fn enqueue_paced(
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

    async fn slot_reservations(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut conn = self.reads.acquire().await?;
        sql::slot_reservations(&mut *conn, ids).await
    }

    async fn defer_for_slot(
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

    async fn waiting_for_sender(&self, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let mut conn = self.reads.acquire().await?;
        sql::waiting_for_sender(&mut *conn, now).await
    }

    async fn learn_sender(&self, message_uuid: &str, sender: &str) -> Result<(), StoreError> {
        let (uuid, sender) = (message_uuid.to_owned(), sender.to_owned());
        self.write(move |c| Box::pin(async move { sql::learn_sender(c, &uuid, &sender).await }))
            .await
    }

    async fn resend_message(
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

    async fn note_event(
        &self,
        id: &str,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (id, detail) = (id.to_owned(), detail.to_owned());
        self.write(move |c| Box::pin(async move { sql::note_event(c, &id, &detail, at).await }))
            .await
    }

    async fn redeliver_callbacks(
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

    async fn record_inbound(
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
    async fn uuids_of_others(&self, id: &str, uuids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut conn = self.reads.acquire().await?;
        sql::uuids_of_others(&mut *conn, id, uuids).await
    }

    async fn resolve_reconcile(
        &self,
        id: &str,
        outcome: &Reconciled,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (id, outcome) = (id.to_owned(), outcome.clone());
        self.write(move |c| Box::pin(async move { sql::resolve(c, &id, &outcome, at).await }))
            .await
    }

    async fn take_list_slot(&self, now: DateTime<Utc>, max: u32) -> Result<bool, StoreError> {
        self.write(move |c| Box::pin(sql::take_list_slot(c, now, max)))
            .await
    }

    async fn hold_early_callback(
        &self,
        message_uuid: &str,
        u: &StatusUpdate,
    ) -> Result<(), StoreError> {
        let (uuid, u) = (message_uuid.to_owned(), u.clone());
        self.write(move |c| Box::pin(async move { sql::hold_early_callback(c, &uuid, &u).await }))
            .await
    }

    async fn sweep_held_callbacks(&self) -> Result<u64, StoreError> {
        self.write(move |c| Box::pin(sql::sweep_held_callbacks(c)))
            .await
    }

    async fn claim_receipt_checks(
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

    async fn schedule_receipt_check(
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

    async fn mark_no_receipt(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.write(move |c| Box::pin(async move { sql::mark_no_receipt(c, &id, at).await }))
            .await
    }

    async fn reconcile_gauges(&self, cap: i64) -> Result<(i64, i64), StoreError> {
        let mut conn = self.reads.acquire().await?;
        let awaiting = sql::count_awaiting_receipt(&mut *conn, cap).await?;
        let held = sql::count_held_callbacks(&mut *conn, cap).await?;
        Ok((awaiting, held))
    }

    async fn change_opt_out(&self, change: &OptOutChange) -> Result<bool, StoreError> {
        let change = change.clone();
        self.write(move |c| Box::pin(async move { sql::apply_change(c, &change).await }))
            .await
    }

    async fn opted_out(&self, numbers: &[String]) -> Result<Vec<String>, StoreError> {
        let mut conn = self.reads.acquire().await?;
        sql::opted_out(&mut *conn, numbers).await
    }

    async fn list_opt_outs(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<OptOutPage, StoreError> {
        let mut conn = self.reads.acquire().await?;
        sql::list_opt_outs(&mut *conn, limit, cursor).await
    }

    async fn opt_out_status(&self, number: &str) -> Result<OptOutStatus, StoreError> {
        let mut tx = self.reads.begin().await?;
        let status = sql::opt_out_status(&mut *tx, number).await?;
        tx.commit().await?;
        Ok(status)
    }
    // --- media uploads ---
    async fn record_uploads(&self, id: &str, uploads: &[UploadedMedia]) -> Result<(), StoreError> {
        let (id, uploads) = (id.to_owned(), uploads.to_vec());
        self.write(move |c| Box::pin(async move { sql::record_uploads(c, &id, &uploads).await }))
            .await
    }
}
