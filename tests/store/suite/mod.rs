//! The store test suite, written once against `Arc<Store>`; `main.rs` runs each test on
//! both backends.

mod concurrency;
mod fleet;
mod keys;
mod listing;
mod messages;
mod retention;
// --- sender pool, pacing, resend ---
mod senders;
// --- reconciliation ---
mod reconcile;
// --- media uploads ---
mod uploads;

pub use concurrency::*;
pub use fleet::*;
pub use keys::*;
pub use listing::*;
pub use messages::*;
pub use reconcile::*;
pub use retention::*;
pub use senders::*;
// --- media uploads ---
pub use uploads::*;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use mms_gateway::domain::{MediaUrl, MessageText, PhoneNumber};
use mms_gateway::store::{
    IdempotencyClaim, MessageQuery, MessageStatus, NewMessage, StatusUpdate, StoreError,
    UpdateOutcome,
};
use MessageStatus::*;

pub type Store = Arc<mms_gateway::store::Store>;

/// A fixed instant plus `seconds`, so tests do not depend on the clock.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
        + Duration::seconds(seconds)
}

pub fn message(id: &str, recipient: &str, created_at: DateTime<Utc>) -> NewMessage {
    NewMessage {
        id: id.to_owned(),
        recipient_number: PhoneNumber::parse(recipient).expect("a valid test number"),
        sender_number: "+14155550100".to_owned(),
        message_text: Some(MessageText::parse("hello".to_owned()).expect("short text")),
        media_urls: vec![MediaUrl::parse("https://example.com/a.jpg").expect("a valid URL")],
        media_ids: Vec::new(),
        callback_url: None,
        batch_id: None,
        created_at,
    }
}

pub fn update(status: MessageStatus, at: DateTime<Utc>) -> StatusUpdate {
    StatusUpdate {
        status,
        message_uuid: None,
        error_code: None,
        error_message: None,
        at,
    }
}

pub async fn status_of(store: &Store, id: &str) -> MessageStatus {
    store
        .get_message(id)
        .await
        .expect("get")
        .expect("stored")
        .status
}

/// A delivery deadline no test reaches.
pub fn far_deadline() -> DateTime<Utc> {
    at(365 * 24 * 3600)
}

/// Stores `message(id, recipient, created_at)` (status `accepted`, through the outbox).
pub async fn insert(store: &Store, id: &str, recipient: &str, created_at: DateTime<Utc>) {
    let m = message(id, recipient, created_at);
    store
        .enqueue_messages(std::slice::from_ref(&m), far_deadline())
        .await
        .expect("insert");
}

/// The stored record of `id`, which must exist.
pub async fn get(store: &Store, id: &str) -> mms_gateway::store::MessageRecord {
    store.get_message(id).await.expect("get").expect("stored")
}

/// `update_status`, which must not fail.
pub async fn set(store: &Store, id: &str, u: &StatusUpdate) -> UpdateOutcome {
    store.update_status(id, u).await.expect("update")
}

/// `claim_idempotency_key`, which must not fail.
pub async fn claim(store: &Store, key: &str, hash: &str, now: DateTime<Utc>) -> IdempotencyClaim {
    store
        .claim_idempotency_key(key, hash, now)
        .await
        .expect("claim")
}

/// Runs `n` copies of `task` at once and returns their results in order.
pub async fn concurrently<T, F, Fut>(n: usize, task: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(task(i))).collect();
    let mut results = Vec::with_capacity(n);
    for handle in handles {
        results.push(handle.await.expect("task"));
    }
    results
}

/// Every message, page by page (`limit` a page, no filters), checking each page's size.
pub async fn all_pages(store: &Store, limit: u32) -> Vec<mms_gateway::store::MessageRecord> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let q = MessageQuery {
            limit,
            cursor,
            ..MessageQuery::default()
        };
        let page = store.list_messages(&q).await.expect("list");
        assert!(page.messages.len() <= limit as usize);
        all.extend(page.messages);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}
