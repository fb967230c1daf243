//! Messages and their events.

use std::collections::HashMap;

use crate::store::db::{query, query_scalar, Bind, Db, Query, Row, Value};
use chrono::{DateTime, Utc};

use super::{micros, status, time};
use crate::domain::MessageText;
use crate::store::cursor::Cursor;
use crate::store::{
    Direction, MessageEvent, MessagePage, MessageQuery, MessageRecord, MessageStatus, NewMessage,
    StatusUpdate, StoreError, UpdateOutcome,
};

/// The rank of the `status` column, as [`MessageStatus::rank`] computes it.
macro_rules! rank_of_status {
    () => {
        "CASE status WHEN 'accepted' THEN 0 WHEN 'sending' THEN 1 WHEN 'queued' THEN 2 \
         WHEN 'sent' THEN 3 ELSE 4 END"
    };
}

/// The conditional UPDATE that moves a message forward, keyed on the column `$key`.
/// Parameters: $1 key, $2 status, $3 uuid, $4 error code, $5 error message, $6 at, $7 new rank.
macro_rules! forward_update {
    ($key:literal) => {
        concat!(
            "UPDATE messages SET status = $2, message_uuid = COALESCE($3, message_uuid), ",
            "error_code = COALESCE($4, error_code), error_message = COALESCE($5, error_message), ",
            "updated_at = CASE WHEN updated_at > $6 THEN updated_at ELSE $6 END, ",
            "ended_at = CASE WHEN $7 = 4 THEN COALESCE(ended_at, $6) ELSE ended_at END, ",
            // --- reconciliation: a queued/sent message waits for its receipt from now ---
            "receipt_check_at = CASE WHEN $2 IN ('queued', 'sent') THEN $6 ELSE NULL END, ",
            "receipt_checks = 0 ",
            "WHERE ",
            $key,
            " = $1 AND ",
            rank_of_status!(),
            " < $7 RETURNING id, callback_url"
        )
    };
}

/// The columns `record_from_row` reads.
pub(super) const MESSAGE_COLUMNS: &str =
    "id, status, recipient_number, sender_number, message_text, media_urls, \
     media_ids, message_uuid, error_code, error_message, outcome_unknown, callback_url, batch_id, \
     created_at, updated_at, redacted, duplicate_uuids, direction";

/// Which column identifies the message of a status update.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MessageKey {
    Id,
    Uuid,
}

/// A stored status back; an unknown name is corrupt data.
pub(super) fn json_list<S: AsRef<str>>(list: &[S]) -> Result<String, StoreError> {
    let list: Vec<&str> = list.iter().map(AsRef::as_ref).collect();
    serde_json::to_string(&list).map_err(|e| StoreError::Corrupt(format!("media list: {e}")))
}

fn parse_json_list(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("media list: {e}")))
}

/// Inserts a message with status `accepted` straight into the outbox: due now, failing with
/// `expired` after `deadline`.
pub(crate) async fn insert_queued_for_delivery(
    conn: &mut dyn Db,
    m: &NewMessage,
    deadline: DateTime<Utc>,
) -> Result<(), StoreError> {
    insert_row(
        conn,
        m,
        MessageStatus::Accepted,
        m.created_at,
        Some(deadline),
    )
    .await
}

/// Inserts a message and moves it to `sending` at once (its `accepted` and `sending` events): the
/// synchronous path's one write before it calls Plivo.
pub(crate) async fn insert_sending(conn: &mut dyn Db, m: &NewMessage) -> Result<(), StoreError> {
    insert_row(
        conn,
        m,
        MessageStatus::Sending,
        Utc::now().max(m.created_at),
        None,
    )
    .await
}

/// Inserts the message row in `status` with its events from `accepted` up to `status` (both
/// `accepted` and `sending` when it starts as `sending`), in as few statements as possible; with a
/// `deadline`, in the outbox.
async fn insert_row(
    conn: &mut dyn Db,
    m: &NewMessage,
    status: MessageStatus,
    status_at: DateTime<Utc>,
    deadline: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let created = micros(m.created_at);
    let at = micros(status_at);
    query(
        "INSERT INTO messages (id, status, recipient_number, sender_number, message_text, media_urls, \
         media_ids, callback_url, batch_id, created_at, updated_at, outcome_unknown, next_attempt_at, \
         deadline_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12, $13)",
    )
    .bind(&m.id)
    .bind(status.as_str())
    .bind(m.recipient_number.as_str())
    .bind(&m.sender_number)
    .bind(m.message_text.as_ref().map(MessageText::as_str))
    .bind(json_list(&m.media_urls)?)
    .bind(json_list(&m.media_ids)?)
    .bind(m.callback_url.as_deref())
    .bind(m.batch_id.as_deref())
    .bind(created)
    .bind(at)
    .bind(deadline.map(|_| created))
    .bind(deadline.map(micros))
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::on_unique(e, StoreError::DuplicateId))?;
    let mut statuses = vec![MessageStatus::Accepted];
    if status != MessageStatus::Accepted {
        statuses.push(status);
    }
    let rows: Vec<String> = (0..statuses.len())
        .map(|i| format!("($1, {}, ${}, ${})", i + 1, 2 * i + 2, 2 * i + 3))
        .collect();
    let sql = format!(
        "INSERT INTO message_events (message_id, seq, status, at) VALUES {}",
        rows.join(", ")
    );
    let mut insert = query(&sql).bind(&m.id);
    for (i, s) in statuses.iter().enumerate() {
        insert = insert
            .bind(s.as_str())
            .bind(if i == 0 { created } else { at });
    }
    insert.execute(&mut *conn).await?;
    if m.callback_url.is_some() {
        for (i, s) in statuses.iter().enumerate() {
            let when = if i == 0 { created } else { at };
            let seq = i64::try_from(i + 1).unwrap_or(i64::MAX);
            super::callbacks::queue_event(conn, &m.id, Some(seq), *s, when, None).await?;
        }
    }
    Ok(())
}

/// Appends an event after the message's last one. Callers hold the message row (they updated it in the
/// same transaction), so two events of one message never race for the same `seq`. With `notify`
/// (the message has a `callback_url` and this is a status change), the event is also queued for the
/// caller (`callback_events`), in the same transaction.
pub(super) async fn append_event(
    conn: &mut dyn Db,
    message_id: &str,
    status: MessageStatus,
    at: i64,
    error_code: Option<&str>,
    detail: Option<&str>,
    notify: bool,
) -> Result<(), StoreError> {
    query(
        "INSERT INTO message_events (message_id, seq, status, at, error_code, detail) \
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5 FROM message_events WHERE message_id = $1",
    )
    .bind(message_id)
    .bind(status.as_str())
    .bind(at)
    .bind(error_code)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    if notify {
        super::callbacks::queue_event(conn, message_id, None, status, at, error_code).await?;
    }
    Ok(())
}

/// Moves the message(s) named by `key` forward to `u.status` if that is a step forward, atomically.
pub(crate) async fn update_status(
    conn: &mut dyn Db,
    by: MessageKey,
    key: &str,
    u: &StatusUpdate,
) -> Result<UpdateOutcome, StoreError> {
    let (update, exists) = match by {
        MessageKey::Id => (
            forward_update!("id"),
            "SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE id = $1 LIMIT 1) AS m",
        ),
        MessageKey::Uuid => (
            forward_update!("message_uuid"),
            "SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE message_uuid = $1 LIMIT 1) AS m",
        ),
    };
    let at = micros(u.at);
    let rows = query(update)
        .bind(key)
        .bind(u.status.as_str())
        .bind(u.message_uuid.as_deref())
        .bind(u.error_code.as_deref())
        .bind(u.error_message.as_deref())
        .bind(at)
        .bind(u.status.rank())
        .fetch_all(&mut *conn)
        .await?;
    if rows.is_empty() {
        let count: i64 = query_scalar(exists).bind(key).fetch_one(&mut *conn).await?;
        return Ok(if count > 0 {
            UpdateOutcome::Ignored
        } else {
            UpdateOutcome::NotFound
        });
    }
    for row in &rows {
        let id: String = row.try_get("id")?;
        let notify = row.try_get::<Option<String>, _>("callback_url")?.is_some();
        let (code, detail) = (u.error_code.as_deref(), u.error_message.as_deref());
        append_event(conn, &id, u.status, at, code, detail, notify).await?;
        // --- retention: the maintained count of final messages ---
        super::retention::count_final(conn, u.status, &id, 1).await?;
    }
    // --- reconciliation: callbacks that came before the UUID ---
    if let Some(uuid) = &u.message_uuid {
        Box::pin(super::reconcile::apply_held_callbacks(conn, uuid)).await?;
    }
    Ok(UpdateOutcome::Applied)
}

/// Flags the message's outcome as unknown and records why (status unchanged).
pub(crate) async fn mark_outcome_unknown(
    conn: &mut dyn Db,
    id: &str,
    detail: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let at = micros(at);
    let current: Option<String> = query_scalar(
        "UPDATE messages SET outcome_unknown = 1, reconcile_from = $2, reconcile_next = NULL, \
         updated_at = CASE WHEN updated_at > $2 THEN updated_at ELSE $2 END \
         WHERE id = $1 RETURNING status",
    )
    .bind(id)
    .bind(at)
    .fetch_optional(&mut *conn)
    .await?;
    let current = status(&current.ok_or(StoreError::MessageNotFound)?)?;
    append_event(conn, id, current, at, None, Some(detail), false).await
}

pub(super) fn record_from_row(row: &Row) -> Result<MessageRecord, StoreError> {
    Ok(MessageRecord {
        id: row.try_get("id")?,
        status: status(row.try_get("status")?)?,
        recipient_number: row.try_get("recipient_number")?,
        sender_number: row.try_get("sender_number")?,
        message_text: row.try_get("message_text")?,
        media_urls: parse_json_list(row.try_get("media_urls")?)?,
        media_ids: parse_json_list(row.try_get("media_ids")?)?,
        message_uuid: row.try_get("message_uuid")?,
        error_code: row.try_get("error_code")?,
        error_message: row.try_get("error_message")?,
        outcome_unknown: row.try_get::<i64, _>("outcome_unknown")? != 0,
        callback_url: row.try_get("callback_url")?,
        batch_id: row.try_get("batch_id")?,
        created_at: time(row.try_get("created_at")?)?,
        updated_at: time(row.try_get("updated_at")?)?,
        events: Vec::new(),
        callback_attempts: None,
        redacted: row.try_get::<i64, _>("redacted")? != 0,
        resend_of: None,
        resent_as: Vec::new(),
        duplicate_uuids: match row.try_get::<Option<String>, _>("duplicate_uuids")? {
            Some(text) => parse_json_list(&text)?,
            None => Vec::new(),
        },
        direction: row
            .try_get::<&str, _>("direction")?
            .parse()
            .map_err(|()| StoreError::Corrupt("unknown message direction".to_owned()))?,
        uploads: None,
    })
}

/// Fills in the events of `records` with one query.
async fn attach_events(conn: &mut dyn Db, records: &mut [MessageRecord]) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let sql = events_statement(records.len());
    let mut query = query(&sql);
    for record in records.iter() {
        query = query.bind(record.id.as_str());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut events: HashMap<String, Vec<MessageEvent>> = HashMap::new();
    for row in &rows {
        let event = MessageEvent {
            status: status(row.try_get("status")?)?,
            at: time(row.try_get("at")?)?,
            error_code: row.try_get("error_code")?,
            detail: row.try_get("detail")?,
        };
        events
            .entry(row.try_get("message_id")?)
            .or_default()
            .push(event);
    }
    for record in records.iter_mut() {
        record.events = events.remove(&record.id).unwrap_or_default();
    }
    Ok(())
}

/// Reads one message with its events.
pub(crate) async fn get_message(
    conn: &mut dyn Db,
    id: &str,
) -> Result<Option<MessageRecord>, StoreError> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1");
    let Some(row) = query(&sql).bind(id).fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let mut records = [record_from_row(&row)?];
    attach_events(conn, &mut records).await?;
    let [record] = records;
    Ok(Some(record))
}

/// The statement that reads one page of messages, newest first, and its parameters in order (the
/// query-plan tests, `tests/store/plans.rs`, explain exactly this). Each filter is a plain equality
/// (no `($1 IS NULL OR …)` shapes, which no index can serve), so the index of the most selective
/// filter returns the rows already in order and the page stops after `limit + 1` of them, whatever
/// the size of the store.
pub(crate) fn listing_statement(q: &MessageQuery, cursor: Option<&Cursor>) -> (String, Vec<Value>) {
    let limit = q.limit.clamp(1, MessageQuery::MAX_LIMIT);
    let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE 1 = 1");
    let mut params = Vec::new();
    let mut next = |value: Value| {
        params.push(value);
        format!("${}", params.len())
    };
    if let Some(recipient) = &q.recipient_number {
        sql += &format!(
            " AND recipient_number = {}",
            next(recipient.as_str().into_value())
        );
    }
    // Only the most selective filter is written so that an index matches it: a person's messages,
    // else the inbound ones (all `delivered`), else a status's. The others are checked on its rows,
    // written as expressions no index matches (`x || ''`), so neither planner walks a wider range
    // instead: without statistics SQLite rates two equalities alike and may pick the status index,
    // whose range for `delivered` is nearly the whole store.
    let by_recipient = q.recipient_number.is_some();
    let by_direction = !by_recipient && q.direction == Some(Direction::Inbound);
    if let Some(status) = q.status {
        let column = if by_recipient || by_direction {
            "status || ''"
        } else {
            "status"
        };
        sql += &format!(" AND {column} = {}", next(status.as_str().into_value()));
    }
    // A literal, so that the partial index of inbound messages serves `direction=inbound`.
    let column = if by_recipient {
        "direction || ''"
    } else {
        "direction"
    };
    match q.direction {
        Some(Direction::Inbound) => sql += &format!(" AND {column} = 'inbound'"),
        Some(Direction::Outbound) => sql += &format!(" AND {column} = 'outbound'"),
        None => {}
    }
    if let Some(cursor) = cursor {
        let at = next(cursor.created_at_micros.into_value());
        let id = next(cursor.id.as_str().into_value());
        sql += &format!(" AND (created_at < {at} OR (created_at = {at} AND id < {id}))");
    }
    // One row more than asked tells whether another page follows.
    let limit = next((i64::from(limit) + 1).into_value());
    sql += &format!(" ORDER BY created_at DESC, id DESC LIMIT {limit}");
    (sql, params)
}

/// The statement that reads the events of `n` messages of a page (one query for the page).
pub(crate) fn events_statement(n: usize) -> String {
    let placeholders: Vec<String> = (1..=n).map(|n| format!("${n}")).collect();
    format!(
        "SELECT message_id, status, at, error_code, detail FROM message_events \
         WHERE message_id IN ({}) ORDER BY message_id, seq",
        placeholders.join(", ")
    )
}

/// Reads one page of messages, newest first.
pub(crate) async fn list_messages(
    conn: &mut dyn Db,
    q: &MessageQuery,
) -> Result<MessagePage, StoreError> {
    let cursor = q.cursor.as_deref().map(Cursor::decode).transpose()?;
    let limit = q.limit.clamp(1, MessageQuery::MAX_LIMIT);
    let (sql, params) = listing_statement(q, cursor.as_ref());
    let rows = params
        .into_iter()
        .fold(query(&sql), Query::bind)
        .fetch_all(&mut *conn)
        .await?;

    let mut messages = rows
        .iter()
        .take(limit as usize)
        .map(record_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = match messages.last() {
        Some(last) if rows.len() > limit as usize => Some(
            Cursor {
                created_at_micros: micros(last.created_at),
                id: last.id.clone(),
            }
            .encode(),
        ),
        _ => None,
    };
    attach_events(conn, &mut messages).await?;
    Ok(MessagePage {
        messages,
        next_cursor,
    })
}
#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;

    #[tokio::test]
    async fn sql_rank_agrees_with_message_status_rank() {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        let sql = concat!(
            "SELECT ",
            rank_of_status!(),
            " FROM (SELECT $1 AS status) AS t"
        );
        for status in MessageStatus::ALL {
            let rank: i64 = sqlx::query_scalar(sql)
                .bind(status.as_str())
                .fetch_one(&mut conn)
                .await
                .expect("rank query");
            assert_eq!(rank, status.rank(), "{status}");
        }
    }
}
