//! Opening the PostgreSQL backend: a pool (writes run one transaction each, on the same pool) and the
//! embedded migrations.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;

use super::dialect::Dialect;
use super::sql_store::{Store, Writes};
use super::{StoreError, MIGRATOR};

/// Connections in the pool.
const POOL_SIZE: u32 = 10;

/// Connects to `url`, migrates the database and returns the store.
pub(crate) async fn open(url: &str) -> Result<Store, StoreError> {
    let pool = AnyPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await?;
    MIGRATOR.run(&pool).await?;
    // --- retention: autovacuum settings for constant inserts and deletes ---
    super::pg_maintenance::tune(&pool).await;
    Ok(Store::new(
        pool.clone(),
        Writes::Direct(pool),
        Dialect::Postgres,
    ))
}
