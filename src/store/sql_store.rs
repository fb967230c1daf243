//! [`SqlStore`]: the one [`MessageStore`] implementation, for SQLite and PostgreSQL alike.
//!
//! Reads go to a pool; writes go either through the SQLite group-commit [`Writer`] or straight to the
//! PostgreSQL pool, each in its own transaction. The SQL itself is in [`super::sql`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::AnyPool;

use super::db::Db;

use super::sql::{self, MessageKey};
use super::writer::{Work, Writer};
use super::{
    CallbackAttempt, ClaimedMessage, Fleet, IdempotencyClaim, MessagePage, MessageQuery,
    MessageRecord, MessageStore, NewMessage, OutboxStats, PendingCallback, StatusUpdate,
    StoreError, UpdateOutcome,
};

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
}

impl SqlStore {
    pub(crate) fn new(reads: AnyPool, writes: Writes) -> SqlStore {
        SqlStore { reads, writes }
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

    async fn insert_message(&self, m: &NewMessage) -> Result<(), StoreError> {
        let m = m.clone();
        self.write(move |c| Box::pin(async move { sql::insert_message(c, &m).await }))
            .await
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
        let skip_locked = matches!(self.writes, Writes::Direct(_));
        self.write(move |c| {
            Box::pin(async move {
                sql::claim_due(c, &owner, now, lease_until, limit, skip_locked).await
            })
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
}
