//! `POST /messages/{id}/resend`: a new message repeating one that `failed` or was `undelivered`.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::api_error::ApiError;
use crate::http::openapi::ErrorResponse;
use crate::http::AppState;
use crate::store::ResendOutcome;

/// The 202 answer to a resend.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResendResponse {
    /// The new message's id.
    id: String,
    /// Always `accepted`: a delivery worker sends it.
    status: &'static str,
    /// The message it repeats.
    resend_of: String,
}

/// Resends a `failed` or `undelivered` message: same content, recipient, sender and
/// `callbackUrl`, a new id (no batch); the old record lists it in `resentAs`.
#[utoipa::path(post, path = "/messages/{id}/resend", tag = "messages",
    params(("id" = String, Path, description = "The message to resend")),
    responses(
        (status = 202, description = "A new linked message, accepted for delivery; see Location", body = ResendResponse),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
        (status = 404, description = "No such message", body = ErrorResponse),
        (status = 409, description = "`not_resendable`: the message is not failed or undelivered (or ended without a receipt); `recipient_opted_out`", body = ErrorResponse),
        (status = 503, description = "The message store is not answering", body = ErrorResponse),
    ))]
pub async fn resend_message(
    State(state): State<AppState>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(|_| {
        ApiError::bad_request("invalid_field", "The message id in the path is not valid.")
            .with_field("id")
    })?;
    let store = state.delivery.store();
    let original = store
        .get_message(&id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| not_found(&id))?;
    if recipient_opted_out(&state, &original.recipient_number).await? {
        return Err(ApiError::recipient_opted_out());
    }
    let new_id = uuid::Uuid::now_v7().to_string();
    match state
        .delivery
        .resend(&id, &new_id)
        .await
        .map_err(ApiError::from)?
    {
        ResendOutcome::Created(new_id) => {
            let location = format!("/messages/{new_id}");
            let mut response = (
                StatusCode::ACCEPTED,
                Json(ResendResponse {
                    id: new_id,
                    status: "accepted",
                    resend_of: id,
                }),
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            Ok(response)
        }
        ResendOutcome::NotFound => Err(not_found(&id)),
        ResendOutcome::NotResendable(status) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_resendable",
            format!(
                "Only a failed or undelivered message can be resent; this one is {status} \
                 (or ended without a delivery receipt)."
            ),
        )),
    }
}

/// The opt-out check of a resend (`409 recipient_opted_out`): the same list sends are checked
/// against (docs/api.md "Opt-outs").
async fn recipient_opted_out(state: &AppState, recipient: &str) -> Result<bool, ApiError> {
    let refused = crate::optouts::opted_out_recipients(
        state.delivery.store().as_ref(),
        &state.metrics,
        &[recipient],
    )
    .await?;
    Ok(!refused.is_empty())
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "There is no message with id {:?}.",
        id.chars().take(64).collect::<String>()
    ))
}
