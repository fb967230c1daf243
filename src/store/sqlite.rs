//! Opening the SQLite backend: the file (created when missing), WAL, pragmas, a read pool (sqlx) and
//! the group-commit writer (its own `rusqlite` connection on its own thread).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyConnection, Executor};

use super::dialect::Dialect;
use super::sql_store::{Store, Writes};
use super::writer::Writer;
use super::{StoreError, MIGRATOR};

/// Read connections (WAL lets them read while the writer writes).
const READ_POOL_SIZE: u32 = 4;

/// Statements the writer keeps prepared (the store has a few dozen).
const WRITER_STATEMENT_CACHE: usize = 64;

/// The writer's connection: durable commits (`synchronous=FULL`), waits up to 5 s for a lock held by
/// another process, and keeps the sub-journal of each write's SAVEPOINT in memory (on disk, every
/// group would create, write and delete a temporary file). Its page cache (16 MiB) holds the upper
/// levels of every index of a store of millions of messages, which each insert and purge walks.
/// Every connection maps the file (`mmap_size`: its first 2 GiB, the most SQLite's default build
/// maps): those pages are read straight from the operating system's cache, which outlives a restart,
/// so a restarted service does not start with cold private caches, and the connections share one copy
/// of each page instead of each warming its own.
const WRITER_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
     PRAGMA cache_size = -16384; PRAGMA mmap_size = 2147418112;";

/// Read connections never write; they read through the mapping (see [`WRITER_PRAGMAS`]) and keep a
/// page cache of 8 MiB for the pages of the write-ahead log.
const READER_PRAGMAS: &[&str] = &[
    "PRAGMA busy_timeout = 5000",
    "PRAGMA foreign_keys = ON",
    "PRAGMA query_only = ON",
    "PRAGMA cache_size = -8192",
    "PRAGMA mmap_size = 2147418112",
];

/// Opens (creating if needed) the database at `url`, migrates it and starts the writer.
pub(crate) async fn open(url: &str, max_batch: usize) -> Result<Store, StoreError> {
    let url = normalize(url);
    let options = AnyConnectOptions::from_str(&url)?;
    // The migrations run on a connection of their own, closed once the writer and the readers are
    // open (an in-memory database lives only as long as one of its connections is).
    let migrations = AnyPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await?;
    MIGRATOR.run(&migrations).await?;
    let writer = open_writer(&url)?;
    let reads = AnyPoolOptions::new()
        .max_connections(READ_POOL_SIZE)
        // All opened at start: every send reads (its opt-out check), so under load the pool
        // would grow to its size anyway; opening it now keeps the descriptors a process holds
        // constant from the first request on.
        .min_connections(READ_POOL_SIZE)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|conn, _| Box::pin(apply(conn, READER_PRAGMAS)))
        .connect_with(options)
        .await?;
    migrations.close().await;
    Ok(Store::new(
        reads,
        Writes::Grouped(Writer::spawn(writer, max_batch)?),
        Dialect::Sqlite,
    ))
}

/// The writer's connection to the database a normalized `url` names.
fn open_writer(url: &str) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(writer_path(url)?, flags)?;
    conn.execute_batch(WRITER_PRAGMAS)?;
    conn.set_prepared_statement_cache_capacity(WRITER_STATEMENT_CACHE);
    Ok(conn)
}

/// What the writer opens: the same file sqlx resolves from the URL, or for an in-memory database the
/// same shared-cache name.
fn writer_path(url: &str) -> Result<PathBuf, StoreError> {
    if let Some(uri) = url.strip_prefix("sqlite:file:") {
        if uri.contains("mode=memory") {
            return Ok(PathBuf::from(format!("file:{uri}")));
        }
    }
    Ok(SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_path_buf())
}

async fn apply(conn: &mut AnyConnection, pragmas: &[&str]) -> Result<(), sqlx::Error> {
    for pragma in pragmas {
        conn.execute(*pragma).await?;
    }
    Ok(())
}

/// Adds `mode=rwc` (create the file when missing) unless a mode is given, and gives `sqlite::memory:`
/// a unique shared-cache name so the writer and the readers see the same in-memory database.
fn normalize(url: &str) -> String {
    let (path, params) = url.split_once('?').unwrap_or((url, ""));
    // As sqlx reads it: the scheme, then `//` or not, then the database.
    let database = path
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    if database == ":memory:" || params.contains("mode=memory") {
        let name = uuid::Uuid::new_v4().simple();
        return format!("sqlite:file:mms-gateway-{name}?mode=memory&cache=shared");
    }
    if params.split('&').any(|p| p.starts_with("mode=")) {
        url.to_owned()
    } else if params.is_empty() {
        format!("{path}?mode=rwc")
    } else {
        format!("{path}?{params}&mode=rwc")
    }
}

#[cfg(test)]
mod tests {
    use super::{normalize, writer_path};

    #[test]
    fn files_are_created_unless_a_mode_is_given() {
        assert_eq!(normalize("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(
            normalize("sqlite:a.db?cache=private"),
            "sqlite:a.db?cache=private&mode=rwc"
        );
        assert_eq!(normalize("sqlite:a.db?mode=ro"), "sqlite:a.db?mode=ro");
        for memory in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://x?mode=memory",
        ] {
            assert!(
                normalize(memory).starts_with("sqlite:file:mms-gateway-"),
                "{memory}"
            );
            assert!(normalize(memory).ends_with("?mode=memory&cache=shared"));
        }
    }

    #[test]
    fn the_writer_opens_what_sqlx_opens() {
        let memory = normalize("sqlite::memory:");
        let path = writer_path(&memory).expect("memory");
        assert!(path
            .to_str()
            .expect("utf-8")
            .starts_with("file:mms-gateway-"));
        assert!(path
            .to_str()
            .expect("utf-8")
            .ends_with("?mode=memory&cache=shared"));
        let file = writer_path(&normalize("sqlite://data/a.db")).expect("file");
        assert_eq!(file, std::path::Path::new("data/a.db"));
    }
}
