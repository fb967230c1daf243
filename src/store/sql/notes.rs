//! Notes in a message's history that change nothing else (a retried attempt of a synchronous send).

use crate::store::db::{query_scalar, Db};
use chrono::{DateTime, Utc};

use super::messages::append_event;
use super::micros;
use super::status;
use crate::store::StoreError;

/// Appends an event with the message's current status and `detail` at `at`.
pub(crate) async fn note_event(
    conn: &mut dyn Db,
    id: &str,
    detail: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let current: Option<String> = query_scalar("SELECT status FROM messages WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let current = status(&current.ok_or(StoreError::MessageNotFound)?)?;
    append_event(conn, id, current, micros(at), None, Some(detail), false).await
}
