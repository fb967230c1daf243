//! Which SQL the database speaks where the backends differ. Chosen where the pool is opened
//! (`sqlite.rs`, `postgres.rs`) and carried by the store; the statements of module `sql` ask it
//! instead of guessing from how writes are made.

/// The database behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// One writer at a time (the group-commit thread): no row locks needed, none to be had.
    Sqlite,
    /// Concurrent transactions, from this and other instances: rows are locked where they race.
    Postgres,
}

impl Dialect {
    /// Appended to a `SELECT` whose rows the transaction then changes, so concurrent
    /// transactions take turns on them.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// The statement that makes a read-only transaction see one snapshot for all its reads, when
    /// the database needs one (PostgreSQL's default gives each statement its own; in SQLite a
    /// transaction's reads share one snapshot already).
    pub(crate) fn snapshot_reads(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
        }
    }

    /// As [`Dialect::for_update`], skipping rows another transaction holds (claiming work, so
    /// that instances do not queue on each other).
    pub(crate) fn for_update_skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Dialect;

    #[test]
    fn only_postgres_locks_rows() {
        assert_eq!(Dialect::Sqlite.for_update(), "");
        assert_eq!(Dialect::Sqlite.snapshot_reads(), None);
        assert!(Dialect::Postgres
            .snapshot_reads()
            .is_some_and(|s| s.contains("REPEATABLE READ")));
        assert_eq!(Dialect::Sqlite.for_update_skip_locked(), "");
        assert_eq!(Dialect::Postgres.for_update(), " FOR UPDATE");
        assert_eq!(
            Dialect::Postgres.for_update_skip_locked(),
            " FOR UPDATE SKIP LOCKED"
        );
    }
}
