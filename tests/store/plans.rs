//! Every query whose cost must not grow with the store is served by an index, on both backends:
//! SQLite's `EXPLAIN QUERY PLAN`, and PostgreSQL's `EXPLAIN` with sequential scans priced out (on a
//! near-empty table the planner would rightly prefer one; what matters is that an index can serve
//! the query at all, which a partial index's predicate decides).

use sqlx::{Connection, Row};

use mms_gateway::store::connect;

use crate::fresh_postgres::FreshPostgres;

/// Each hot query (with literal values) and the index that must serve it.
const HOT_QUERIES: &[(&str, &str)] = &[
    // The retention purge and redaction, oldest ended first.
    (
        "SELECT id, status, batch_id FROM messages WHERE redacted = 1 AND ended_at < 5 \
         ORDER BY ended_at LIMIT 10",
        "messages_ended_idx",
    ),
    (
        "SELECT id, recipient_number, batch_id FROM messages WHERE redacted = 0 AND ended_at < 5 \
         ORDER BY ended_at LIMIT 10",
        "messages_ended_idx",
    ),
    // Stored answers of a deleted or redacted message.
    (
        "DELETE FROM idempotency_keys WHERE message_ref IN ('a', 'b')",
        "idempotency_keys_message_idx",
    ),
    // Expired keys and nonces.
    (
        "SELECT idem_key FROM idempotency_keys WHERE created_at < 5 ORDER BY created_at LIMIT 10",
        "idempotency_keys_created_idx",
    ),
    (
        "SELECT nonce FROM used_nonces WHERE seen_at < 5 ORDER BY seen_at LIMIT 10",
        "used_nonces_seen_idx",
    ),
    // GET /metrics: counts of messages under way, the oldest waiting, the outbox depth.
    (
        "SELECT COUNT(*) FROM messages WHERE status = 'queued'",
        "messages_status_idx",
    ),
    (
        "SELECT MIN(created_at) FROM messages WHERE status = 'accepted'",
        "messages_status_idx",
    ),
    (
        "SELECT COUNT(*) FROM messages WHERE next_attempt_at IS NOT NULL",
        "messages_outbox_idx",
    ),
    // GET /messages with each filter, newest first.
    (
        "SELECT id FROM messages WHERE 1 = 1 ORDER BY created_at DESC, id DESC LIMIT 51",
        "messages_created_idx",
    ),
    (
        "SELECT id FROM messages WHERE 1 = 1 AND recipient_number = '+14155551234' \
         ORDER BY created_at DESC, id DESC LIMIT 51",
        "messages_recipient_idx",
    ),
    (
        "SELECT id FROM messages WHERE 1 = 1 AND status = 'delivered' \
         ORDER BY created_at DESC, id DESC LIMIT 51",
        "messages_status_idx",
    ),
    (
        "SELECT id FROM messages WHERE 1 = 1 AND status = 'delivered' AND \
         (created_at < 9 OR (created_at = 9 AND id < 'x')) ORDER BY created_at DESC, id DESC LIMIT 51",
        "messages_status_idx",
    ),
    // A status callback finds its message by Plivo's UUID.
    (
        "SELECT id FROM messages WHERE message_uuid = 'u'",
        "messages_uuid_idx",
    ),
    // Deleting a message's caller events.
    (
        "DELETE FROM callback_events WHERE message_id IN ('a', 'b')",
        "callback_events_message_idx",
    ),
];

#[tokio::test]
async fn sqlite_serves_every_hot_query_from_an_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("plans.db");
    drop(
        connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("open"),
    );
    let conn = rusqlite::Connection::open(&path).expect("open with rusqlite");
    for (sql, index) in HOT_QUERIES {
        let mut statement = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let plan = statement
            .query_map([], |row| row.get::<_, String>(3))
            .expect("plan rows")
            .collect::<Result<Vec<_>, _>>()
            .expect("plan")
            .join("; ");
        assert!(plan.contains(index), "{sql}\n  → {plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{sql} sorts: {plan}");
    }
}

#[tokio::test]
async fn postgres_serves_every_hot_query_from_an_index() {
    let Some(db) = FreshPostgres::create("postgres query plan").await else {
        return;
    };
    drop(connect(db.url()).await.expect("open"));
    let mut conn = sqlx::PgConnection::connect(db.url())
        .await
        .expect("connect");
    // An empty table has no statistics: steer the planner off plans a big table would never get
    // (a full scan, a sort of everything), so what is checked is that an index CAN serve each query
    // in order.
    for setting in ["SET enable_seqscan = off", "SET enable_sort = off"] {
        sqlx::query(setting).execute(&mut conn).await.expect("set");
    }
    for (sql, index) in HOT_QUERIES {
        let rows = sqlx::query(&format!("EXPLAIN {sql}"))
            .fetch_all(&mut conn)
            .await
            .expect("explain");
        let plan: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
        let plan = plan.join("\n");
        assert!(plan.contains(index), "{sql}\n{plan}");
        assert!(!plan.contains("Seq Scan"), "{sql}\n{plan}");
        assert!(!plan.contains("Sort"), "{sql} sorts:\n{plan}");
    }
    // The tables that churn carry their autovacuum settings.
    let options: Option<String> = sqlx::query_scalar(
        "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'messages'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("reloptions");
    assert!(
        options
            .unwrap_or_default()
            .contains("autovacuum_vacuum_scale_factor=0.01"),
        "messages has no autovacuum settings"
    );
    conn.close().await.expect("close");
    db.drop_database().await;
}
