//! Runs one suite test against a fresh store of each backend.

use std::future::Future;
use std::sync::Arc;

use mms_gateway::store::{connect, Store};

use crate::fresh_postgres::FreshPostgres;

/// A fresh SQLite store in a temporary directory.
pub async fn with_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Arc<Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = connect(&url).await.expect("open SQLite store");
    test(store).await;
}

/// A fresh PostgreSQL database (created from `TEST_DATABASE_URL`, dropped afterwards, even when the
/// test fails). Says so on stderr and passes when `TEST_DATABASE_URL` is not set.
pub async fn with_postgres<F, Fut>(test: F)
where
    F: FnOnce(Arc<Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(db) = FreshPostgres::create("postgres store").await else {
        return;
    };
    let store = connect(db.url()).await.expect("open PostgreSQL store");
    test(store).await;
}
