//! Runs one suite test against a fresh store of each backend.

use std::future::Future;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use mms_gateway::store::{connect, MessageStore};
use sqlx::{Connection, PgConnection};

/// A fresh SQLite store in a temporary directory.
pub async fn with_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn MessageStore>) -> Fut,
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
    F: FnOnce(Arc<dyn MessageStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        // Written directly: libtest captures print macros but not direct writes.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED postgres store tests: TEST_DATABASE_URL is not set"
        );
        return;
    };
    let name = format!("mms_store_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&name);

    let outcome = AssertUnwindSafe(async {
        let store = connect(url.as_str()).await.expect("open PostgreSQL store");
        test(store).await;
    })
    .catch_unwind()
    .await;

    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop test database");
    let _ = admin.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
