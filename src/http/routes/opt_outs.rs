//! `GET /opt-outs`, `GET/PUT/DELETE /opt-outs/{number}`: the opt-out list, read and changed by hand.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;

use crate::api_error::ApiError;
use crate::http::openapi::ErrorResponse;
use crate::http::AppState;
use crate::optouts::{self, normalize_number};
use crate::store::{OptOutAction, OptOutPage, OptOutSource, OptOutStatus};

/// Page size of `GET /opt-outs` unless `limit` says otherwise.
const DEFAULT_LIMIT: u32 = 100;
/// The largest page.
const MAX_LIMIT: u32 = 1000;

/// The opt-out list, newest first.
#[utoipa::path(get, path = "/opt-outs", tag = "opt-outs",
    params(
        ("limit" = Option<u32>, Query, description = "1 to 1000 (default 100)"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "Newest first", body = OptOutPage),
        (status = 400, description = "A query parameter is wrong", body = ErrorResponse),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
        (status = 503, description = "The message store is not answering", body = ErrorResponse),
    ))]
pub async fn list_opt_outs(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<OptOutPage>, ApiError> {
    let mut limit = DEFAULT_LIMIT;
    let mut cursor = None;
    for (key, value) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "limit" => {
                limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        invalid_field("limit", "limit must be a whole number from 1 to 1000.")
                    })?;
            }
            "cursor" if !value.is_empty() => cursor = Some(value.into_owned()),
            _ => {}
        }
    }
    Ok(Json(
        state
            .delivery
            .store()
            .list_opt_outs(limit, cursor.as_deref())
            .await?,
    ))
}

/// Whether a number is opted out, and every change of it.
#[utoipa::path(get, path = "/opt-outs/{number}", tag = "opt-outs",
    params(("number" = String, Path, description = "E.164 with + as %2B, or the digits alone")),
    responses(
        (status = 200, description = "The number's place on the list and its history, oldest first", body = OptOutStatus),
        (status = 400, description = "Not a phone number (invalid_phone_number)", body = ErrorResponse),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
        (status = 503, description = "The message store is not answering", body = ErrorResponse),
    ))]
pub async fn get_opt_out(
    State(state): State<AppState>,
    number: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Json<OptOutStatus>, ApiError> {
    let number = path_number(number)?;
    state
        .delivery
        .store()
        .opt_out_status(&number)
        .await
        .map(Json)
        .map_err(ApiError::from)
}

/// Puts a number on the list (source `api`); a listed number gets a new history entry.
#[utoipa::path(put, path = "/opt-outs/{number}", tag = "opt-outs",
    params(("number" = String, Path, description = "E.164 with + as %2B, or the digits alone")),
    responses(
        (status = 204, description = "The number is on the list"),
        (status = 400, description = "Not a phone number (invalid_phone_number)", body = ErrorResponse),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
        (status = 503, description = "The message store is not answering", body = ErrorResponse),
    ))]
pub async fn put_opt_out(
    State(state): State<AppState>,
    number: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<StatusCode, ApiError> {
    change(&state, number, OptOutAction::Optout).await
}

/// Takes a number off the list (source `api`); `204` also when it was not listed.
#[utoipa::path(delete, path = "/opt-outs/{number}", tag = "opt-outs",
    params(("number" = String, Path, description = "E.164 with + as %2B, or the digits alone")),
    responses(
        (status = 204, description = "The number is not on the list"),
        (status = 400, description = "Not a phone number (invalid_phone_number)", body = ErrorResponse),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
        (status = 503, description = "The message store is not answering", body = ErrorResponse),
    ))]
pub async fn delete_opt_out(
    State(state): State<AppState>,
    number: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<StatusCode, ApiError> {
    change(&state, number, OptOutAction::Optin).await
}

async fn change(
    state: &AppState,
    number: Result<Path<String>, axum::extract::rejection::PathRejection>,
    action: OptOutAction,
) -> Result<StatusCode, ApiError> {
    let number = path_number(number)?;
    let changed = optouts::change(
        state.delivery.store().as_ref(),
        &state.metrics,
        &number,
        action,
        OptOutSource::Api,
    )
    .await
    .map_err(ApiError::from)?;
    if changed {
        tracing::info!(
            number = %crate::domain::mask(&number),
            action = action.as_str(),
            "opt-out list changed through the API"
        );
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The path's number as E.164 (`+` arrives decoded from `%2B`; digits alone get one).
fn path_number(
    number: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<String, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "invalid_phone_number",
            "The number in the path must be E.164 (+ written as %2B, e.g. %2B14155551234) or its digits alone.",
        )
        .with_field("number")
    };
    let Path(number) = number.map_err(|_| bad())?;
    // A `+` left literal in a path is a `+`; a space (from a form-style `+`) is not accepted.
    if number.starts_with(' ') {
        return Err(bad());
    }
    normalize_number(&number).ok_or_else(bad)
}

fn invalid_field(field: &'static str, message: &str) -> ApiError {
    ApiError::bad_request("invalid_field", message.to_owned()).with_field(field)
}
