//! PostgreSQL storage settings for a store that inserts and deletes all the time.
//!
//! PostgreSQL's defaults vacuum a table once a fifth of it is dead rows: on a 5-million-message store
//! with a 30-day retention that is a vacuum every six days, and meanwhile every index and the heap
//! grow with dead rows the purge left. These per-table settings make autovacuum come after about 1 %
//! (plus a floor), work faster (a higher cost limit), and analyze as often, so the planner keeps seeing
//! the real sizes. The small `status_counts` table is rewritten on every final status change: its
//! pages keep half their room free (HOT updates, no index churn) and it is vacuumed after 1,000 dead
//! rows whatever its size. They are set at start (the migrations are shared with SQLite, which has
//! no such settings), only when they differ, and a role that does not own the tables only logs it.

use sqlx::AnyPool;

/// Each table with the storage parameters it should have.
const SETTINGS: &[(&str, &str)] = &[
    ("messages", BIG_TABLE),
    ("message_events", BIG_TABLE),
    ("callback_events", BIG_TABLE),
    ("callback_attempts", BIG_TABLE),
    ("idempotency_keys", BIG_TABLE),
    ("used_nonces", BIG_TABLE),
    (
        "status_counts",
        "fillfactor=50,autovacuum_vacuum_scale_factor=0,autovacuum_vacuum_threshold=1000",
    ),
];

const BIG_TABLE: &str = "autovacuum_vacuum_scale_factor=0.01,autovacuum_vacuum_threshold=5000,\
     autovacuum_vacuum_insert_scale_factor=0.01,autovacuum_analyze_scale_factor=0.01,\
     autovacuum_vacuum_cost_limit=2000";

/// Applies [`SETTINGS`] where the tables do not have them yet.
pub(crate) async fn tune(pool: &AnyPool) {
    for (table, options) in SETTINGS {
        if let Err(error) = tune_table(pool, table, options).await {
            tracing::warn!(%error, table, "store.autovacuum_settings_not_applied");
        }
    }
}

async fn tune_table(pool: &AnyPool, table: &str, options: &str) -> Result<(), sqlx::Error> {
    let current: Option<String> = sqlx::query_scalar(
        "SELECT array_to_string(reloptions, ',') FROM pg_class \
         WHERE oid = to_regclass($1)::oid",
    )
    .bind(table)
    .fetch_optional(pool)
    .await?
    .flatten();
    let current = current.unwrap_or_default();
    let missing = options
        .split(',')
        .any(|option| !current.split(',').any(|have| have == option));
    if missing {
        // Names and values come from the constant above, never from input.
        sqlx::query(&format!("ALTER TABLE {table} SET ({options})"))
            .execute(pool)
            .await?;
    }
    Ok(())
}
