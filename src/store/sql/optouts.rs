//! The opt-out list and its history.

use crate::store::db::{query, Db, Row};

use super::{micros, time};
use crate::store::cursor::Cursor;
use crate::store::{
    OptOutAction, OptOutChange, OptOutEntry, OptOutHistoryEntry, OptOutPage, OptOutSource,
    OptOutStatus, StoreError,
};

/// Applies a change; returns whether it was recorded (an opt-in of a number not on the list, or a
/// Plivo error 200 for a number already on it, changes nothing and leaves no history).
pub(crate) async fn apply_change(
    conn: &mut dyn Db,
    change: &OptOutChange,
) -> Result<bool, StoreError> {
    let at = micros(change.at);
    let changed = match (change.action, change.source) {
        // Plivo's error 200 is a consequence of an opt-out, not a new request: the first reason
        // recorded stays.
        (OptOutAction::Optout, OptOutSource::PlivoError200) => {
            query(
                "INSERT INTO opt_outs (number, source, at) VALUES ($1, $2, $3) \
                 ON CONFLICT (number) DO NOTHING",
            )
            .bind(&change.number)
            .bind(change.source.as_str())
            .bind(at)
            .execute(&mut *conn)
            .await?
        }
        (OptOutAction::Optout, _) => {
            query(
                "INSERT INTO opt_outs (number, source, at) VALUES ($1, $2, $3) \
                 ON CONFLICT (number) DO UPDATE SET source = excluded.source, at = excluded.at",
            )
            .bind(&change.number)
            .bind(change.source.as_str())
            .bind(at)
            .execute(&mut *conn)
            .await?
        }
        (OptOutAction::Optin, _) => {
            query("DELETE FROM opt_outs WHERE number = $1")
                .bind(&change.number)
                .execute(&mut *conn)
                .await?
        }
    };
    if changed == 0 {
        return Ok(false);
    }
    query(
        "INSERT INTO opt_out_history (id, number, action, source, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&change.number)
    .bind(change.action.as_str())
    .bind(change.source.as_str())
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Which of `numbers` are on the list (one indexed lookup per number, in one statement).
pub(crate) async fn opted_out(
    conn: &mut dyn Db,
    numbers: &[String],
) -> Result<Vec<String>, StoreError> {
    if numbers.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=numbers.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT number FROM opt_outs WHERE number IN ({})",
        placeholders.join(", ")
    );
    let mut statement = query(&sql);
    for number in numbers {
        statement = statement.bind(number.as_str());
    }
    statement
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| row.try_get("number"))
        .collect()
}

fn source(row: &Row) -> Result<OptOutSource, StoreError> {
    let text: &str = row.try_get("source")?;
    text.parse()
        .map_err(|()| StoreError::Corrupt("unknown opt-out source".to_owned()))
}

/// One page of the list, newest first (`at`, then number, descending).
pub(crate) async fn list_opt_outs(
    conn: &mut dyn Db,
    limit: u32,
    cursor: Option<&str>,
) -> Result<OptOutPage, StoreError> {
    let cursor = cursor.map(Cursor::decode).transpose()?;
    let limit = limit.clamp(1, 1000);
    let rows = match &cursor {
        None => {
            query("SELECT number, source, at FROM opt_outs ORDER BY at DESC, number DESC LIMIT $1")
                .bind(i64::from(limit) + 1)
                .fetch_all(&mut *conn)
                .await?
        }
        Some(c) => {
            query(
                "SELECT number, source, at FROM opt_outs \
                 WHERE at < $1 OR (at = $1 AND number < $2) \
                 ORDER BY at DESC, number DESC LIMIT $3",
            )
            .bind(c.created_at_micros)
            .bind(c.id.as_str())
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let opt_outs = rows
        .iter()
        .take(limit as usize)
        .map(|row| {
            Ok(OptOutEntry {
                number: row.try_get("number")?,
                source: source(row)?,
                at: time(row.try_get("at")?)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let next_cursor = match opt_outs.last() {
        Some(last) if rows.len() > limit as usize => Some(
            Cursor {
                created_at_micros: micros(last.at),
                id: last.number.clone(),
            }
            .encode(),
        ),
        _ => None,
    };
    Ok(OptOutPage {
        opt_outs,
        next_cursor,
    })
}

/// Whether `number` is on the list, and its history, oldest first.
pub(crate) async fn opt_out_status(
    conn: &mut dyn Db,
    number: &str,
) -> Result<OptOutStatus, StoreError> {
    let listed = !opted_out(conn, &[number.to_owned()]).await?.is_empty();
    let rows =
        query("SELECT action, source, at FROM opt_out_history WHERE number = $1 ORDER BY at, id")
            .bind(number)
            .fetch_all(&mut *conn)
            .await?;
    let history = rows
        .iter()
        .map(|row| {
            let action = match row.try_get::<&str, _>("action")? {
                "optout" => OptOutAction::Optout,
                "optin" => OptOutAction::Optin,
                _ => return Err(StoreError::Corrupt("unknown opt-out action".to_owned())),
            };
            Ok(OptOutHistoryEntry {
                action,
                source: source(row)?,
                at: time(row.try_get("at")?)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(OptOutStatus {
        number: number.to_owned(),
        opted_out: listed,
        history,
    })
}
