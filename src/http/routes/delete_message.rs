//! `DELETE /messages/{id}`: erases an ended message and everything recorded about it.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::api_error::ApiError;
use crate::http::openapi::ErrorResponse;
use crate::http::routes::messages::truncate;
use crate::http::AppState;
use crate::store::DeleteOutcome;

/// Deletes a message that has ended (final, or left `sent` without a receipt at its deadline) with
/// its events, status events for callers and their attempts, and the idempotency record that created
/// it. A later Plivo callback for it is answered `200` and ignored.
#[utoipa::path(delete, path = "/messages/{id}", tag = "messages",
    params(("id" = String, Path, description = "This service's message id")),
    responses(
        (status = 204, description = "The message and everything recorded about it are gone"),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
        (status = 404, description = "No such message", body = ErrorResponse),
        (status = 409, description = "The message is not final yet (`not_final`)", body = ErrorResponse),
        (status = 503, description = "The message store is not answering", body = ErrorResponse),
    ))]
pub async fn delete_message(
    State(state): State<AppState>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id.map_err(|_| {
        ApiError::bad_request("invalid_field", "The message id in the path is not valid.")
            .with_field("id")
    })?;
    match state.delivery.store().delete_message(&id).await {
        Ok(DeleteOutcome::Deleted) => {
            tracing::info!(message.id = %truncate(&id), "message deleted");
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(DeleteOutcome::NotFinal) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_final",
            "The message is still under way; it can be deleted once it is final.",
        )),
        Ok(DeleteOutcome::NotFound) => Err(ApiError::not_found(format!(
            "There is no message with id {:?}.",
            truncate(&id)
        ))),
        Err(e) => Err(e.into()),
    }
}
