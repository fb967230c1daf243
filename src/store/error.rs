//! [`StoreError`]: what can go wrong in the message store.
//!
//! No variant prints a database URL or any other secret: connection problems name only the URL scheme.

use std::sync::Arc;

/// An error from the message store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The `cursor` of a list query was not one this store produced.
    #[error("the cursor is not valid")]
    InvalidCursor,
    /// A new message with an id that is already stored.
    #[error("a message with this id already exists")]
    DuplicateId,
    /// The message named does not exist.
    #[error("no such message")]
    MessageNotFound,
    /// The database URL's scheme is neither `sqlite` nor `postgres`/`postgresql`.
    #[error("unsupported database URL scheme {scheme:?} (expected sqlite: or postgres:)")]
    UnsupportedUrl {
        /// The scheme found (never the whole URL, which may hold a password).
        scheme: String,
    },
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite writer's connection failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A group of SQLite writes could not be committed; every write of the group failed with it.
    #[error("database error while committing a group of writes: {0}")]
    GroupCommit(Arc<rusqlite::Error>),
    /// Applying the embedded migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (a bug or a hand-edited database).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// A write broke the SQLite writer's rules (a bug): it waited on something other than the
    /// database.
    #[error("internal error in the SQLite writer: {0}")]
    WriterMisuse(&'static str),
    /// The SQLite writer task has stopped (the store is shutting down).
    #[error("the message store is shutting down")]
    WriterStopped,
}

impl StoreError {
    /// Maps a unique-constraint violation (from either driver) to `on_unique`, anything else to
    /// itself.
    pub(crate) fn on_unique(self, on_unique: StoreError) -> StoreError {
        match &self {
            StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                on_unique
            }
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                on_unique
            }
            _ => self,
        }
    }
}
