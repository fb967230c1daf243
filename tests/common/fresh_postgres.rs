//! A fresh PostgreSQL database for one test, created from `TEST_DATABASE_URL` (an admin URL such
//! as `postgres://postgres@127.0.0.1:5432/postgres`) and dropped when the value is dropped, also
//! when the test panics. Shared by the test binaries that need PostgreSQL (`#[path]` module).

use std::io::Write;

use sqlx::Connection;

/// One database, made for one test.
pub struct FreshPostgres {
    admin_url: String,
    name: String,
    url: String,
}

impl FreshPostgres {
    /// Creates the database; without `TEST_DATABASE_URL`, says `SKIPPED {suite} tests` on stderr
    /// (written directly: libtest captures the print macros of passing tests) and returns `None`.
    pub async fn create(suite: &str) -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {suite} tests: TEST_DATABASE_URL is not set"
            );
            return None;
        };
        let name = format!("mms_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Some(Self {
            admin_url,
            name,
            url: url.to_string(),
        })
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database now (connections to it are ended).
    pub async fn drop_database(&self) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await;
        }
    }
}

impl Drop for FreshPostgres {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return; // the copy below, once its database is gone
        }
        let mut this = Self {
            admin_url: std::mem::take(&mut self.admin_url),
            name: std::mem::take(&mut self.name),
            url: std::mem::take(&mut self.url),
        };
        // Drop runs outside async code: a thread with its own runtime drops the database.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for dropping the test database");
            runtime.block_on(this.drop_database());
            this.name.clear();
        })
        .join();
    }
}
