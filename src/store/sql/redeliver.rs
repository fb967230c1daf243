//! Caller status events whose retry window ran out, put back for delivery
//! (`POST /callbacks/redeliver`).

use crate::store::db::{query, Db};
use chrono::{DateTime, Utc};

use super::micros;
use crate::store::StoreError;

/// Requeues every exhausted event with `occurred_at >= since` (of one message when given), due
/// now with a new retry window. Each message's events still go out in their order (the claim takes
/// only a message's earliest pending event). Returns how many were requeued.
pub(crate) async fn redeliver_callbacks(
    conn: &mut dyn Db,
    since: DateTime<Utc>,
    message_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let now = micros(now);
    let only_message = if message_id.is_some() {
        " AND message_id = $3"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE callback_events SET exhausted = 0, window_start = $1, next_attempt_at = $1, \
         lease_until = NULL WHERE exhausted = 1 AND occurred_at >= $2{only_message}"
    );
    let mut q = query(&sql).bind(now).bind(micros(since));
    if let Some(id) = message_id {
        q = q.bind(id);
    }
    q.execute(&mut *conn).await
}
