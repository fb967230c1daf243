//! `POST /callbacks/redeliver`: status events for callers whose retry window ran out, requeued.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::api_error::ApiError;
use crate::http::openapi::ErrorResponse;
use crate::http::send_request::{body_to_object, BodyFormat};
use crate::http::AppState;

/// The 202 answer to a redelivery.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RedeliverResponse {
    /// How many exhausted events were put back for delivery.
    requeued: u64,
}

/// The body of `POST /callbacks/redeliver`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedeliverRequest {
    /// RFC 3339: events that occurred at or after this time.
    #[schema(example = "2026-12-01T00:00:00Z")]
    pub since: String,
    /// Only this message's events.
    pub message_id: Option<String>,
}

/// Puts every exhausted status event (`"exhausted": true` in `callbackAttempts`) that occurred
/// at or after `since` back for delivery, in order, with a new retry window.
#[utoipa::path(post, path = "/callbacks/redeliver", tag = "messages",
    request_body(content((RedeliverRequest = "application/json"))),
    responses(
        (status = 202, description = "The events are queued again", body = RedeliverResponse),
        (status = 400, description = "`since` is missing or not RFC 3339, or `messageId` is not a string", body = ErrorResponse),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
        (status = 415, description = "Neither JSON nor form", body = ErrorResponse),
        (status = 503, description = "The message store is not answering", body = ErrorResponse),
    ))]
pub async fn redeliver(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<RedeliverResponse>), ApiError> {
    let format = BodyFormat::from_headers(&headers)?;
    let body = body?;
    let map = body_to_object(format, &body)?;
    let since = text_field(&map, "since")?.ok_or_else(|| {
        ApiError::bad_request("missing_field", "since is required (an RFC 3339 time).")
            .with_field("since")
    })?;
    let since = parse_since(&since)?;
    let message_id = text_field(&map, "messageId")?;
    let requeued = state
        .delivery
        .store()
        .redeliver_callbacks(since, message_id.as_deref(), Utc::now())
        .await
        .map_err(ApiError::from)?;
    Ok((StatusCode::ACCEPTED, Json(RedeliverResponse { requeued })))
}

fn parse_since(value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_field",
                "since must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z.",
            )
            .with_field("since")
        })
}

/// An optional string member of the body: absent or `null` is `None`, another type is a 400.
fn text_field(
    map: &serde_json::Map<String, serde_json::Value>,
    name: &'static str,
) -> Result<Option<String>, ApiError> {
    match map.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(
            ApiError::bad_request("invalid_field", format!("{name} must be a string."))
                .with_field(name),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_rfc3339() {
        assert_eq!(
            parse_since("2026-12-01T01:00:00+01:00").unwrap(),
            "2026-12-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        for bad in ["yesterday", "2026-12-01", "", "2026-13-01T00:00:00Z"] {
            assert_eq!(
                parse_since(bad).unwrap_err().code(),
                "invalid_field",
                "{bad}"
            );
        }
    }
}
