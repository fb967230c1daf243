//! Opening the SQLite backend: the file (created when missing), WAL, pragmas, a read pool and the
//! group-commit writer.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, Executor};

use super::sql_store::{SqlStore, Writes};
use super::writer::Writer;
use super::{StoreError, MIGRATOR};

/// Read connections (WAL lets them read while the writer writes).
const READ_POOL_SIZE: u32 = 4;

/// The writer's connection: durable commits (`synchronous=FULL`), waits up to 5 s for a lock held by
/// another process.
const WRITER_PRAGMAS: &[&str] = &[
    "PRAGMA busy_timeout = 5000",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
];

/// Read connections never write.
const READER_PRAGMAS: &[&str] = &[
    "PRAGMA busy_timeout = 5000",
    "PRAGMA foreign_keys = ON",
    "PRAGMA query_only = ON",
];

/// Opens (creating if needed) the database at `url`, migrates it and starts the writer.
pub(crate) async fn open(url: &str, max_batch: usize) -> Result<SqlStore, StoreError> {
    let options = AnyConnectOptions::from_str(&normalize(url))?;
    // Both pools keep their connections: an in-memory database lives only as long as one is open.
    let writes = AnyPoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .after_connect(|conn, _| Box::pin(apply(conn, WRITER_PRAGMAS)))
        .connect_with(options.clone())
        .await?;
    MIGRATOR.run(&writes).await?;
    let reads = AnyPoolOptions::new()
        .max_connections(READ_POOL_SIZE)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|conn, _| Box::pin(apply(conn, READER_PRAGMAS)))
        .connect_with(options)
        .await?;
    Ok(SqlStore::new(
        reads,
        Writes::Grouped(Writer::spawn(writes, max_batch)),
    ))
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
    if path == "sqlite::memory:" || params.contains("mode=memory") {
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
    use super::normalize;

    #[test]
    fn files_are_created_unless_a_mode_is_given() {
        assert_eq!(normalize("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(
            normalize("sqlite:a.db?cache=private"),
            "sqlite:a.db?cache=private&mode=rwc"
        );
        assert_eq!(normalize("sqlite:a.db?mode=ro"), "sqlite:a.db?mode=ro");
        assert!(normalize("sqlite::memory:").ends_with("?mode=memory&cache=shared"));
    }
}
