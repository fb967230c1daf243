//! Every query whose cost must not grow with the store is served by an index, on both backends:
//! SQLite's `EXPLAIN QUERY PLAN`, and PostgreSQL's `EXPLAIN` with sequential scans priced out (on a
//! near-empty table the planner would rightly prefer one; what matters is that an index can serve
//! the query at all, which a partial index's predicate decides).

use sqlx::{Connection, Row};

use mms_gateway::store::{
    connect, listing_statements, Direction, MessageQuery, MessageStatus, SqlParam, Store,
};

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
    // GET /messages: see `listings`, which explains the statements exactly as the store sends them.
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

/// Every shape of `GET /messages` (each filter alone and together, with and without a cursor), as
/// the store sends it: its statements, and the index that must serve the page, newest first.
async fn listings(store: &Store) -> Vec<(String, Vec<(String, Vec<SqlParam>)>, &'static str)> {
    // A real cursor: the second of two messages, as a first page of one gives it out.
    for (id, second) in [("0001", 1), ("0002", 2)] {
        let m = crate::suite::message(id, "+14155551234", crate::suite::at(second));
        store.insert_sending(&m).await.expect("insert");
    }
    let first = MessageQuery {
        limit: 1,
        ..MessageQuery::default()
    };
    let cursor = store
        .list_messages(&first)
        .await
        .expect("first page")
        .next_cursor
        .expect("a second page");
    let mut out = Vec::new();
    for recipient in [None, Some("+14155551234")] {
        for status in [
            None,
            Some(MessageStatus::Queued),
            Some(MessageStatus::Delivered),
        ] {
            for direction in [None, Some(Direction::Outbound), Some(Direction::Inbound)] {
                for cursor in [None, Some(cursor.clone())] {
                    let q = MessageQuery {
                        recipient_number: recipient.map(str::to_owned),
                        status,
                        direction,
                        cursor,
                        ..MessageQuery::default()
                    };
                    // The most selective filter's index: a person's messages, then the inbound
                    // ones (all `delivered`), then a status's, then all. Never a status's range
                    // with another filter: for `delivered` it is nearly the whole store.
                    let index = match (recipient, status, direction) {
                        (Some(_), _, _) => "messages_recipient_idx",
                        (None, _, Some(Direction::Inbound)) => "messages_inbound_idx",
                        (None, Some(_), _) => "messages_status_idx",
                        (None, None, _) => "messages_created_idx",
                    };
                    let statements = listing_statements(&q, &["0001", "0002"]).expect("statements");
                    out.push((format!("{q:?}"), statements, index));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn sqlite_serves_every_listing_from_an_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("listing.db");
    let store = connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open");
    let shapes = listings(&store).await;
    drop(store);
    let conn = rusqlite::Connection::open(&path).expect("open with rusqlite");
    for (shape, statements, index) in shapes {
        for (n, (sql, params)) in statements.iter().enumerate() {
            let mut statement = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("explain");
            for (i, param) in params.iter().enumerate() {
                match param {
                    SqlParam::Int(v) => statement.raw_bind_parameter(i + 1, v),
                    SqlParam::Text(v) => statement.raw_bind_parameter(i + 1, v),
                }
                .expect("bind");
            }
            let mut rows = statement.raw_query();
            let mut plan = Vec::new();
            while let Some(row) = rows.next().expect("plan row") {
                plan.push(row.get::<_, String>(3).expect("detail"));
            }
            let plan = plan.join("; ");
            // The page by the filter's index; the events by their primary key.
            let wanted = if n == 0 {
                index
            } else {
                "sqlite_autoindex_message_events_1"
            };
            assert!(plan.contains(wanted), "{shape}\n{sql}\n  → {plan}");
            assert!(
                !plan.contains("TEMP B-TREE"),
                "{shape}\n{sql} sorts: {plan}"
            );
        }
    }
}

#[tokio::test]
async fn postgres_serves_every_listing_from_an_index() {
    let Some(db) = FreshPostgres::create("postgres listing plans").await else {
        return;
    };
    let store = connect(db.url()).await.expect("open");
    let shapes = listings(&store).await;
    drop(store);
    let mut conn = sqlx::PgConnection::connect(db.url())
        .await
        .expect("connect");
    for setting in ["SET enable_seqscan = off", "SET enable_sort = off"] {
        sqlx::query(setting).execute(&mut conn).await.expect("set");
    }
    for (shape, statements, index) in shapes {
        for (n, (sql, params)) in statements.iter().enumerate() {
            let explain = format!("EXPLAIN {sql}");
            let mut query = sqlx::query(&explain);
            for param in params {
                query = match param {
                    SqlParam::Int(v) => query.bind(*v),
                    SqlParam::Text(v) => query.bind(v.clone()),
                };
            }
            let rows = query.fetch_all(&mut conn).await.expect("explain");
            let plan: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
            let plan = plan.join("\n");
            let wanted = if n == 0 { index } else { "message_events_pkey" };
            assert!(plan.contains(wanted), "{shape}\n{sql}\n{plan}");
            assert!(!plan.contains("Seq Scan"), "{shape}\n{sql}\n{plan}");
            assert!(!plan.contains("Sort"), "{shape}\n{sql} sorts:\n{plan}");
        }
    }
    conn.close().await.expect("close");
    db.drop_database().await;
}

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
