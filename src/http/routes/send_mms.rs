//! `POST /send-mms`: check the request, record it, send it through Plivo, answer with the receipt.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::delivery::SendError;
use crate::http::error::ApiError;
use crate::http::idempotency::{self, Answer, Begin};
use crate::http::openapi::ErrorResponse;
use crate::http::send_request::{parse_send, BodyFormat};
use crate::http::AppState;
use crate::plivo::{PlivoError, SendMessageResponse};

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

/// Sends one MMS (honouring `Idempotency-Key`).
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
) -> Response {
    let begun = async {
        let key = idempotency::key_from_headers(&headers)?;
        let format = BodyFormat::from_headers(&headers)?;
        let body = body?;
        let begin = idempotency::begin(state.delivery.store(), key, &body).await?;
        Ok::<_, ApiError>((format, body, begin))
    };
    let (format, body, claim) = match begun.await {
        Ok((_, _, Begin::Replay(answer))) => return answer.into_response(),
        Ok((format, body, Begin::Proceed(claim))) => (format, body, claim),
        Err(e) => return e.into_response(),
    };
    let (response, answer, retryable) = match process(&state, format, &body).await {
        Ok(answer) => (answer.clone().into_response(), answer, false),
        Err(failure) => {
            let retryable = is_retryable(&failure);
            let e = ApiError::from(failure);
            let answer = error_answer(&e);
            (e.into_response(), answer, retryable)
        }
    };
    idempotency::finish(state.delivery.store(), claim, &answer, retryable).await;
    response
}

/// What can end a send early.
enum Failure {
    Api(ApiError),
    Send(SendError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Api(e) => e,
            Failure::Send(SendError::Plivo(e)) => e.into(),
            Failure::Send(SendError::Store(e)) => {
                tracing::error!(error = %e, "message store failed during a send");
                ApiError::internal()
            }
        }
    }
}

/// Nothing reached Plivo and a retry with the same key could succeed.
fn is_retryable(f: &Failure) -> bool {
    matches!(
        f,
        Failure::Send(
            SendError::Store(_)
                | SendError::Plivo(PlivoError::Unavailable { .. } | PlivoError::AuthFailed { .. })
        )
    )
}

async fn process(state: &AppState, format: BodyFormat, body: &[u8]) -> Result<Answer, Failure> {
    let mms = parse_send(format, body)?;
    state
        .ops
        .media_preflight()
        .check(&mms)
        .await
        .map_err(ApiError::from)?;
    let id = uuid::Uuid::new_v4().to_string();
    tracing::info!(message.id = %id, recipient = %mms.to.masked(), "sending MMS");
    let record = state.delivery.new_record(id.clone(), &mms, None);
    let sent = state.delivery.send_now(record, &mms).await.map_err(|e| {
        tracing::warn!(message.id = %id, error = %e, "send failed");
        Failure::Send(e)
    })?;
    let message_uuid = sent
        .response
        .message_uuid
        .first()
        .cloned()
        .unwrap_or_default();
    tracing::info!(message.id = %id, message.uuid = %message_uuid, plivo.attempts = sent.attempts, "Plivo accepted the MMS");
    let response = SendMmsResponse {
        message: "MMS sent successfully.",
        id,
        message_uuid,
        status: "queued",
        plivo_response: sent.response.into(),
    };
    Ok(Answer {
        status: StatusCode::OK,
        body: serde_json::to_vec(&response).map_err(|_| Failure::Api(ApiError::internal()))?,
    })
}

fn error_answer(e: &ApiError) -> Answer {
    Answer {
        status: e.status(),
        body: e.body_json(),
    }
}
