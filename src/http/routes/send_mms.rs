//! `POST /send-mms`: check the request, send it through Plivo, answer with Plivo's receipt.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;

use crate::http::error::ApiError;
use crate::http::send_request::{parse_send, BodyFormat};
use crate::http::AppState;
use crate::plivo::SendMessageResponse;

/// The 200 answer (contract §3).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendMmsResponse {
    message: &'static str,
    id: String,
    message_uuid: String,
    status: &'static str,
    plivo_response: PlivoResponse,
}

/// Plivo's answer, in camelCase.
#[derive(Debug, Serialize)]
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
pub async fn send_mms(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<SendMmsResponse>, ApiError> {
    let format = BodyFormat::from_headers(&headers)?;
    let body = body?;
    let mms = parse_send(format, &body)?;
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
