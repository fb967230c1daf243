//! Tests about the SQLite file itself, opening, and errors.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use mms_gateway::store::{
    connect, connect_with, MessageStatus, StatusUpdate, StoreError, StoreOptions,
};

use crate::suite::{at, far_deadline, message};

#[tokio::test]
async fn the_file_is_created_when_missing_and_data_survives_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fresh.db");
    assert!(!path.exists());
    let url = format!("sqlite://{}", path.display());

    let store = connect(&url).await.expect("open");
    assert!(path.exists(), "database file created");
    store
        .enqueue_messages(&[message("keep", "+14155550101", at(0))], far_deadline())
        .await
        .expect("insert");
    let update = StatusUpdate {
        status: MessageStatus::Queued,
        message_uuid: Some("u-keep".to_owned()),
        error_code: None,
        error_message: None,
        at: at(1),
    };
    store.update_status("keep", &update).await.expect("update");
    store
        .claim_idempotency_key("key", "h", at(0))
        .await
        .expect("claim");
    assert!(store.use_nonce("nonce", at(0)).await.expect("nonce"));
    drop(store);

    // Reopening runs the migrations again (a no-op) and sees everything.
    let store = connect(&url).await.expect("reopen");
    let record = store
        .get_message("keep")
        .await
        .expect("get")
        .expect("survived");
    assert_eq!(record.status, MessageStatus::Queued);
    assert_eq!(record.message_uuid.as_deref(), Some("u-keep"));
    assert_eq!(record.events.len(), 2);
    assert!(!store.use_nonce("nonce", at(1)).await.expect("nonce"));
    let claim = store
        .claim_idempotency_key("key", "h", at(1))
        .await
        .expect("claim");
    assert_eq!(claim, mms_gateway::store::IdempotencyClaim::InFlight);
}

#[tokio::test]
async fn in_memory_databases_work() {
    for url in ["sqlite::memory:", "sqlite://:memory:"] {
        let store = connect(url).await.expect("open");
        store
            .enqueue_messages(&[message("mem", "+14155550101", at(0))], far_deadline())
            .await
            .expect("insert");
        assert!(
            store.get_message("mem").await.expect("get").is_some(),
            "{url}"
        );
    }
}

/// An in-memory database is one shared cache, locked table by table: writes wait for readers
/// instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_writes_wait_for_concurrent_reads() {
    let store: Arc<mms_gateway::store::Store> = connect("sqlite::memory:").await.expect("open");
    let reader = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for _ in 0..200 {
                store
                    .list_messages(&mms_gateway::store::MessageQuery::default())
                    .await
                    .expect("list");
            }
        })
    };
    for i in 0..200 {
        store
            .enqueue_messages(
                &[message(&format!("m{i}"), "+14155550101", at(i))],
                far_deadline(),
            )
            .await
            .expect("insert while reading");
    }
    reader.await.expect("reader");
}

#[tokio::test]
async fn errors_name_the_scheme_but_never_the_url() {
    let result = connect("mysql://user:s3cret@localhost/db").await;
    match result {
        Err(StoreError::UnsupportedUrl { scheme }) => assert_eq!(scheme, "mysql"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("mysql accepted"),
    }
    let Err(error) = connect("postgres://user:s3cret@127.0.0.1:1/db").await else {
        panic!("connected to port 1");
    };
    let mut text = format!("{error} {error:?}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text += &format!(" {cause}");
        source = cause.source();
    }
    assert!(!text.contains("s3cret"), "{text}");
}

/// Time for 1000 concurrent inserts with and without group commit. Run with
/// `cargo test --release --test store -- --ignored --nocapture group_commit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing measurement, not a check"]
async fn group_commit_speeds_up_concurrent_inserts() {
    for max_batch in [1, 256] {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = connect_with(
            &url,
            &StoreOptions {
                sqlite_max_batch: max_batch,
            },
        )
        .await
        .expect("open");
        let started = Instant::now();
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    store
                        .enqueue_messages(
                            &[message(&format!("b{i}"), "+14155550101", at(i))],
                            far_deadline(),
                        )
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task").expect("insert");
        }
        let _ = writeln!(
            std::io::stderr(),
            "1000 concurrent inserts, max_batch {max_batch}: {:?}",
            started.elapsed()
        );
    }
}

/// The lookups that must stay fast as the table grows use their (partial) indexes: Plivo's
/// callbacks find a message by UUID, the workers find due messages in the outbox.
#[tokio::test]
async fn lookups_by_uuid_and_due_time_use_their_indexes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("plan.db");
    let store = connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open");
    drop(store);
    let conn = rusqlite::Connection::open(&path).expect("open with rusqlite");
    let plan = |sql: &str| -> String {
        let mut statement = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let details = statement
            .query_map([], |row| row.get::<_, String>(3))
            .expect("plan rows")
            .collect::<Result<Vec<_>, _>>()
            .expect("plan");
        details.join("; ")
    };
    let by_uuid = plan("SELECT id FROM messages WHERE message_uuid = 'u'");
    assert!(by_uuid.contains("messages_uuid_idx"), "{by_uuid}");
    let due = plan(
        "SELECT id FROM messages WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= 5 \
         ORDER BY next_attempt_at, id LIMIT 10",
    );
    assert!(due.contains("messages_outbox_idx"), "{due}");
}
