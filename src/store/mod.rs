//! The durable message store: messages and their status history, idempotency keys and used webhook
//! nonces, the outbox and the fleet, caller events and opt-outs, all through one type, [`Store`].
//!
//! [`Store`] is a concrete type, not a trait: it has one implementation and nothing replaces it
//! with a fake (the suites run the real store on SQLite and PostgreSQL), so a trait would only
//! repeat every signature and box every call. The backends differ inside it (how writes reach the
//! database, and the SQL dialect of module `dialect`, chosen where the pool is opened), never in
//! what callers see.
//!
//! [`connect`] picks the backend from the URL scheme: `sqlite:` (the default, a file created when
//! missing, WAL, durable commits grouped by one writer thread) or `postgres:`/`postgresql:` (a pool).
//! Both run the same SQL (module `sql`, written against module `db`: sqlx's `Any` driver for
//! PostgreSQL and SQLite reads, `rusqlite` for the SQLite writer), and the same embedded migrations
//! (`migrations/`) at start-up. Times are stored as unix microseconds, so they round-trip to the
//! microsecond.

mod cursor;
mod db;
mod dialect;
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

pub use error::StoreError;
pub use inbound::{
    Direction, EventKind, InboundOutcome, NewForward, NewInbound, OptOutAction, OptOutChange,
    OptOutEntry, OptOutHistoryEntry, OptOutPage, OptOutSource, OptOutStatus,
};
pub use sql_store::Store;
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
pub async fn connect(database_url: &str) -> Result<Arc<Store>, StoreError> {
    connect_with(database_url, &StoreOptions::default()).await
}

/// As [`connect`], with explicit [`StoreOptions`].
pub async fn connect_with(
    database_url: &str,
    options: &StoreOptions,
) -> Result<Arc<Store>, StoreError> {
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
