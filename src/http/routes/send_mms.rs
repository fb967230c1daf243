//! `POST /send-mms`: check the request, send it through Plivo, answer with Plivo's receipt.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;

use crate::http::error::ApiError;
use crate::http::openapi::ErrorResponse;
use crate::http::send_request::{parse_send, BodyFormat};
use crate::http::AppState;
use crate::plivo::SendMessageResponse;

/// The 200 answer (contract §3).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendMmsResponse {
    message: &'static str,
    id: String,
    message_uuid: String,
    status: &'static str,
    plivo_response: PlivoResponse,
}

/// Plivo's answer, in camelCase.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlivoResponse {
    api_id: Option<String>,
    message: String,
    message_uuid: Vec<String>,
}

impl From<SendMessageResponse> for PlivoResponse {
    fn from(r: SendMessageResponse) -> Self {
        Self {
            api_id: r.api_id,
            message: r.message,
            message_uuid: r.message_uuid,
        }
    }
}

/// Sends one MMS.
#[utoipa::path(
    post,
    path = "/send-mms",
    tag = "messages",
    request_body(content(
        (crate::http::openapi::SendMmsRequest = "application/json"),
        (crate::http::openapi::SendMmsRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Plivo accepted the message", body = SendMmsResponse),
        (status = 400, description = "The request is wrong (or, with MEDIA_PREFLIGHT, a media URL failed its check); nothing was sent", body = ErrorResponse),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
        (status = 413, description = "Body over 64 KiB", body = ErrorResponse),
        (status = 415, description = "Neither JSON nor form", body = ErrorResponse),
        (status = 422, description = "Plivo rejected the message", body = ErrorResponse),
        (status = 429, description = "Rate limit or in-flight limit reached; see Retry-After", body = ErrorResponse),
        (status = 502, description = "Plivo refused our credentials or answered unexpectedly", body = ErrorResponse),
        (status = 503, description = "Plivo unavailable after retries, or the service is overloaded; see Retry-After", body = ErrorResponse),
        (status = 504, description = "Plivo or the whole request timed out", body = ErrorResponse),
    )
)]
pub async fn send_mms(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<SendMmsResponse>, ApiError> {
    let format = BodyFormat::from_headers(&headers)?;
    let body = body?;
    let mms = parse_send(format, &body)?;
    state.ops.media_preflight().check(&mms).await?;
    let id = uuid::Uuid::new_v4().to_string();
    tracing::info!(message.id = %id, recipient = %mms.to.masked(), media = mms.media.urls().len() + mms.media.ids().len(), "sending MMS");
    let sent = state.dispatcher.send(&mms).await.map_err(|e| {
        tracing::warn!(message.id = %id, error = %e, "send failed");
        ApiError::from(e)
    })?;
    let message_uuid = sent
        .response
        .message_uuid
        .first()
        .cloned()
        .unwrap_or_default();
    tracing::info!(message.id = %id, message.uuid = %message_uuid, plivo.attempts = sent.attempts, "Plivo accepted the MMS");
    Ok(Json(SendMmsResponse {
        message: "MMS sent successfully.",
        id,
        message_uuid,
        status: "queued",
        plivo_response: sent.response.into(),
    }))
}
