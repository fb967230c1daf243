//! `GET /messages/{id}` and `GET /messages`: the stored records, newest first.

use axum::extract::{Path, RawQuery, State};
use axum::Json;

use super::message_views::{MessageList, MessageView};
use crate::api_error::ApiError;
use crate::http::openapi::ErrorResponse;
use crate::http::AppState;
use crate::store::{Direction, MessageQuery, MessageStatus};

/// One message with its status history.
#[utoipa::path(get, path = "/messages/{id}", tag = "messages",
    params(("id" = String, Path, description = "This service's message id")),
    responses(
        (status = 200, description = "The message and its events (an inbound message in its own shape)", body = MessageView),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
        (status = 404, description = "No such message", body = ErrorResponse),
        (status = 503, description = "The message store is not answering", body = ErrorResponse),
    ))]
pub async fn get_message(
    State(state): State<AppState>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Json<MessageView>, ApiError> {
    let Path(id) = id.map_err(|_| invalid("id", "The message id in the path is not valid."))?;
    match state.delivery.store().get_message(&id).await {
        Ok(Some(record)) => Ok(Json(record.into())),
        Ok(None) => Err(ApiError::not_found(format!(
            "There is no message with id {:?}.",
            truncate(&id)
        ))),
        Err(e) => Err(e.into()),
    }
}

/// A page of messages, filtered by `recipientNumber`, `status` and `direction`, `limit` (1–100) at
/// a time.
#[utoipa::path(get, path = "/messages", tag = "messages",
    params(
        ("recipientNumber" = Option<String>, Query, description = "Only messages to this E.164 number (outbound) and from it (inbound)"),
        ("direction" = Option<Direction>, Query, description = "`inbound` or `outbound` (default: both)"),
        ("status" = Option<MessageStatus>, Query, description = "Only messages in this status"),
        ("limit" = Option<u32>, Query, description = "1 to 100 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "Newest first", body = MessageList),
        (status = 400, description = "A query parameter is wrong", body = ErrorResponse),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
        (status = 503, description = "The message store is not answering", body = ErrorResponse),
    ))]
pub async fn list_messages(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<MessageList>, ApiError> {
    let query = parse_query(query.as_deref().unwrap_or(""))?;
    Ok(Json(
        state.delivery.store().list_messages(&query).await?.into(),
    ))
}

/// Reads the query string into a store query, answering 400 for anything wrong.
pub fn parse_query(raw: &str) -> Result<MessageQuery, ApiError> {
    let mut query = MessageQuery::default();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        match key.as_ref() {
            "recipientNumber" if !value.is_empty() => {
                query.recipient_number = Some(recipient_filter(&value)?)
            }
            "status" if !value.is_empty() => {
                query.status = Some(value.parse::<MessageStatus>().map_err(|_| {
                    invalid(
                        "status",
                        "status must be one of accepted, sending, queued, sent, delivered, undelivered, failed.",
                    )
                })?);
            }
            "limit" => {
                query.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MessageQuery::MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        invalid("limit", "limit must be a whole number from 1 to 100.")
                    })?;
            }
            "cursor" if !value.is_empty() => query.cursor = Some(value.into_owned()),
            "direction" if !value.is_empty() => {
                query.direction = Some(value.parse::<Direction>().map_err(|()| {
                    invalid("direction", "direction must be inbound or outbound.")
                })?);
            }
            _ => {}
        }
    }
    Ok(query)
}

// --- hardening: query inputs ---

/// `recipientNumber` must be E.164 (`+` and 8–15 digits). A `+` sent unencoded arrives as a space
/// (the query string's encoding of a space), so that case gets a hint rather than an empty list.
fn recipient_filter(value: &str) -> Result<String, ApiError> {
    let e164 = |v: &str| {
        v.strip_prefix('+')
            .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
    };
    if e164(value) {
        return Ok(value.to_owned());
    }
    let message = if value.starts_with(' ') && e164(&format!("+{}", value.trim_start())) {
        "recipientNumber must be an E.164 number; in a query string write its + as %2B \
         (?recipientNumber=%2B14155551234), since a bare + means a space."
    } else {
        "recipientNumber must be an E.164 number (+ and 8 to 15 digits, + written as %2B)."
    };
    Err(ApiError::bad_request("invalid_phone_number", message).with_field("recipientNumber"))
}

fn invalid(field: &'static str, message: &str) -> ApiError {
    ApiError::bad_request("invalid_field", message).with_field(field)
}

/// At most 64 characters of `s`, to name an id in an answer or a log line.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings() {
        let q = parse_query("recipientNumber=%2B14155551234&status=delivered&limit=5&cursor=abc")
            .unwrap();
        assert_eq!(q.recipient_number.as_deref(), Some("+14155551234"));
        assert_eq!(q.status, Some(MessageStatus::Delivered));
        assert_eq!(q.limit, 5);
        assert_eq!(q.cursor.as_deref(), Some("abc"));
        assert_eq!(parse_query("").unwrap(), MessageQuery::default());
        assert_eq!(parse_query("status=").unwrap().status, None);
        assert_eq!(
            parse_query("direction=inbound").unwrap().direction,
            Some(Direction::Inbound)
        );
        for bad in [
            "limit=0",
            "limit=101",
            "limit=x",
            "status=lost",
            "direction=up",
        ] {
            assert_eq!(
                parse_query(bad).unwrap_err().code(),
                "invalid_field",
                "{bad}"
            );
        }
    }
}
