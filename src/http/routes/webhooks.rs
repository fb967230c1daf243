//! `POST /webhooks/plivo/status`: Plivo's status callbacks, verified by `crate::http::plivo_webhook`
//! before anything changes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use crate::api_error::ApiError;
use crate::http::openapi::ErrorResponse;
use crate::http::plivo_webhook::verify;
use crate::http::AppState;
use crate::plivo::status_callback::StatusCallback;
use crate::store::{MessageStatus, StatusUpdate, UpdateOutcome};

/// The path Plivo posts to.
pub const STATUS_PATH: &str = "/webhooks/plivo/status";

/// Verifies the signature over the raw body, then moves the message forward (never backwards).
#[utoipa::path(post, path = "/webhooks/plivo/status", tag = "webhooks", security(()),
    request_body(content_type = "application/x-www-form-urlencoded",
        description = "Plivo's status callback parameters (MessageUUID, Status, ErrorCode, …), signed with \
                       X-Plivo-Signature-V3/-Ma-V3 and X-Plivo-Signature-V3-Nonce (or the V2 headers)"),
    responses(
        (status = 200, description = "Accepted (also for repeats). A callback for a UUID no message has yet is \
                                      held for an hour and applied when a message takes that UUID"),
        (status = 400, description = "Signed, but the parameters are not as Plivo sends them \
                                      (invalid_callback); nothing changed", body = ErrorResponse),
        (status = 403, description = "Missing or wrong signature; nothing changed", body = ErrorResponse),
        (status = 503, description = "The message store is not answering", body = ErrorResponse),
    ))]
pub async fn plivo_status(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body?;
    let verified = verify(
        &state,
        STATUS_PATH,
        &uri,
        &headers,
        &body,
        StatusCallback::parse,
    )
    .await?;
    let callback = &verified.params;
    let uuid = callback.message_uuid.as_str();
    let Some(status) = map_status(&callback.status) else {
        tracing::info!(
            message.uuid = uuid,
            plivo.status = callback.status,
            "status callback with a status we do not track; ignored"
        );
        verified.keep_nonce_with(&state, uuid).await;
        return Ok(Json(json!({"status": "ignored"})));
    };
    let error_code = callback
        .error_code
        .clone()
        .filter(|_| matches!(status, MessageStatus::Failed | MessageStatus::Undelivered));
    let update = StatusUpdate {
        status,
        message_uuid: None,
        error_code,
        error_message: None,
        at: Utc::now(),
    };
    let outcome = state
        .delivery
        .store()
        .update_status_by_uuid(uuid, &update)
        .await?;
    // --- sender pool: a Powerpack message learns its number from the callback's `From` ---
    if let Some(from) = callback
        .from
        .as_deref()
        .and_then(crate::senders::sender_from_callback)
    {
        if state.config.senders.powerpack_uuid.is_some() {
            if let Err(e) = state.delivery.store().learn_sender(uuid, &from).await {
                tracing::warn!(error = %e, "could not record the Powerpack sender");
            }
        }
    }
    verified.keep_nonce_with(&state, uuid).await;
    // --- opt-outs: Plivo's error 200 means the recipient opted out ---
    if let Some(to) = callback.to.as_deref() {
        crate::optouts::learn_from_plivo_error(
            state.delivery.store().as_ref(),
            &state.metrics,
            to,
            update.error_code.as_deref(),
        )
        .await
        .map_err(ApiError::from)?;
    }
    match outcome {
        UpdateOutcome::Applied => tracing::debug!(
            message.uuid = uuid,
            status = status.as_str(),
            "status updated from Plivo"
        ),
        UpdateOutcome::Ignored => tracing::debug!(
            message.uuid = uuid,
            status = status.as_str(),
            "late or repeated status callback; ignored"
        ),
        // --- reconciliation: a callback may come before the send's answer ---
        UpdateOutcome::NotFound => {
            tracing::info!(
                message.uuid = uuid,
                "status callback for a UUID not recorded yet; held until a message takes it"
            );
            state
                .delivery
                .store()
                .hold_early_callback(uuid, &update)
                .await?;
        }
    }
    Ok(Json(json!({"status": "ok"})))
}

/// Plivo's status words mapped onto the message's states; `None` for ones not tracked (e.g. `read`).
fn map_status(plivo: &str) -> Option<MessageStatus> {
    match plivo {
        "queued" => Some(MessageStatus::Queued),
        "sent" => Some(MessageStatus::Sent),
        "delivered" => Some(MessageStatus::Delivered),
        "undelivered" => Some(MessageStatus::Undelivered),
        "failed" | "rejected" => Some(MessageStatus::Failed),
        _ => None,
    }
}
