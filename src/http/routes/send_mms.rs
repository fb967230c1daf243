//! `POST /send-mms`: check the request, record it, send it through Plivo, answer with the receipt.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::delivery::{callbacks, SendError};
use crate::domain::OutboundMms;
use crate::http::error::ApiError;
use crate::http::idempotency::{self, Answer, Begin};
use crate::http::openapi::ErrorResponse;
use crate::http::send_request::{parse_send_request, BodyFormat, SendRequest};
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

/// The 202 answer to an asynchronous single send.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AcceptedResponse {
    id: String,
    status: &'static str,
}

/// The 202 answer to a bulk send.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    batch_id: String,
    messages: Vec<BatchMessage>,
    /// Recipients left out (opted out); nothing was recorded for them.
    skipped: Vec<Skipped>,
}

/// A recipient of a bulk send that was left out.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    recipient_number: String,
    /// Always `recipient_opted_out`.
    code: &'static str,
}

/// One recipient of a bulk send.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchMessage {
    id: String,
    recipient_number: String,
}

/// Sends one MMS, or accepts it (or a batch) for asynchronous delivery; honours `Idempotency-Key`.
#[utoipa::path(
    post,
    path = "/send-mms",
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; a repeat within 24 hours gets the stored answer"),
        ("Prefer" = Option<String>, Header, description = "`respond-async`: answer 202 once the message is stored; a worker sends it"),
    ),
    tag = "messages",
    request_body(content(
        (crate::http::openapi::SendMmsRequest = "application/json"),
        (crate::http::openapi::SendMmsRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Plivo accepted the message", body = SendMmsResponse),
        (status = 202, description = "Accepted for asynchronous delivery (`Prefer: respond-async`, or `recipientNumbers`); see Location", body = AcceptedResponse),
        (status = 409, description = "The recipient opted out (recipient_opted_out; nothing recorded or sent), or a request with this Idempotency-Key is still in flight", body = ErrorResponse),
        (status = 400, description = "The request is wrong (or, with MEDIA_PREFLIGHT, a media URL failed its check); nothing was sent", body = ErrorResponse),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
        (status = 413, description = "Body over 64 KiB", body = ErrorResponse),
        (status = 415, description = "Neither JSON nor form", body = ErrorResponse),
        (status = 422, description = "Plivo rejected the message, or the Idempotency-Key was used with another body", body = ErrorResponse),
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
    let respond_async = prefers_async(&headers);
    let begun = async {
        let key = idempotency::key_from_headers(&headers)?;
        let format = BodyFormat::from_headers(&headers)?;
        let body = body?;
        let begin = idempotency::begin(state.delivery.store(), key, &body).await?;
        Ok::<_, ApiError>((format, body, begin))
    };
    let (format, body, claim) = match begun.await {
        Ok((_, _, Begin::Replay(answer))) => {
            return decorate(answer.into_response(), respond_async)
        }
        Ok((format, body, Begin::Proceed(claim))) => (format, body, claim),
        Err(e) => return e.into_response(),
    };
    let (response, answer, retryable) = match process(&state, format, &body, respond_async).await {
        Ok(answer) => (
            decorate(answer.clone().into_response(), respond_async),
            answer,
            false,
        ),
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

/// Whether `Prefer` asks for `respond-async` (RFC 7240).
fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| {
            p.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("respond-async")
        })
}

/// Adds the headers of a 202: `Location` for one message, `Preference-Applied` when asked for.
fn decorate(mut response: Response, respond_async: bool) -> Response {
    if response.status() != StatusCode::ACCEPTED {
        return response;
    }
    let headers = response.headers_mut();
    if respond_async {
        headers.insert(
            "preference-applied",
            HeaderValue::from_static("respond-async"),
        );
    }
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

/// Nothing reached Plivo and a retry with the same key could succeed (for an opted-out recipient:
/// once it opts back in).
fn is_retryable(f: &Failure) -> bool {
    if let Failure::Api(e) = f {
        return e.code() == "recipient_opted_out";
    }
    matches!(
        f,
        Failure::Send(
            SendError::Store(_)
                | SendError::Plivo(PlivoError::Unavailable { .. } | PlivoError::AuthFailed { .. })
        )
    )
}

async fn process(
    state: &AppState,
    format: BodyFormat,
    body: &[u8],
    respond_async: bool,
) -> Result<Answer, Failure> {
    let request = parse_send_request(format, body)?;
    let (messages, callback_url, bulk) = match request {
        SendRequest::Single { mms, callback_url } => (vec![mms], callback_url, false),
        SendRequest::Bulk {
            messages,
            callback_url,
        } => (messages, callback_url, true),
    };
    let policy = callbacks::address_policy(state.config.delivery.callback_allow_private);
    if callback_url
        .as_deref()
        .is_some_and(|url| !callbacks::url_allowed(url, &policy))
    {
        return Err(Failure::Api(
            ApiError::bad_request(
                "invalid_field",
                "callbackUrl points to a loopback, private or otherwise non-public address.",
            )
            .with_field("callbackUrl"),
        ));
    }
    if callback_url.is_some() && state.config.delivery.webhook_signing_secret.is_none() {
        return Err(Failure::Api(
            ApiError::bad_request(
                "invalid_field",
                "callbackUrl needs this service to have WEBHOOK_SIGNING_SECRET configured.",
            )
            .with_field("callbackUrl"),
        ));
    }
    // --- opt-outs: refused before anything is recorded or sent ---
    let (messages, skipped) =
        crate::optouts::screen(state.delivery.store().as_ref(), &state.metrics, messages)
            .await
            .map_err(|e| Failure::Send(SendError::Store(e)))?;
    if !bulk && !skipped.is_empty() {
        return Err(Failure::Api(ApiError::recipient_opted_out()));
    }
    if messages.is_empty() {
        return accept(state, &messages, callback_url, skipped).await;
    }
    state
        .ops
        .media_preflight()
        .check(&messages[0])
        .await
        .map_err(ApiError::from)?;
    if bulk {
        return accept(state, &messages, callback_url, skipped).await;
    }
    if respond_async {
        return accept_one(state, &messages[0], callback_url).await;
    }
    send_now(state, &messages[0], callback_url).await
}

/// A new message or batch id: a UUID v7, so ids sort by creation time and new rows land at the end
/// of the store's indexes (a random id would dirty a different index page for every message).
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The synchronous path: record, send through Plivo, answer with its receipt.
async fn send_now(
    state: &AppState,
    mms: &OutboundMms,
    callback_url: Option<String>,
) -> Result<Answer, Failure> {
    let id = new_id();
    tracing::debug!(message.id = %id, recipient = %mms.to.masked(), "sending MMS");
    let record = state
        .delivery
        .new_record(id.clone(), mms, callback_url, None);
    let sent = state.delivery.send_now(record, mms).await.map_err(|e| {
        tracing::warn!(message.id = %id, error = %e, "send failed");
        Failure::Send(e)
    })?;
    let message_uuid = sent
        .response
        .message_uuid
        .first()
        .cloned()
        .unwrap_or_default();
    tracing::debug!(message.id = %id, message.uuid = %message_uuid, plivo.attempts = sent.attempts, "Plivo accepted the MMS");
    json_answer(
        StatusCode::OK,
        &SendMmsResponse {
            message: "MMS sent successfully.",
            id,
            message_uuid,
            status: "queued",
            plivo_response: sent.response.into(),
        },
        None,
    )
}

/// The asynchronous path for one message.
async fn accept_one(
    state: &AppState,
    mms: &OutboundMms,
    callback_url: Option<String>,
) -> Result<Answer, Failure> {
    accept_records(
        state,
        std::slice::from_ref(mms),
        callback_url,
        None,
        Vec::new(),
    )
    .await
}

/// The asynchronous path for a bulk send; `skipped` are the opted-out recipients left out.
async fn accept(
    state: &AppState,
    messages: &[OutboundMms],
    callback_url: Option<String>,
    skipped: Vec<String>,
) -> Result<Answer, Failure> {
    accept_records(state, messages, callback_url, Some(new_id()), skipped).await
}

/// The asynchronous path: record durably (the outbox), answer 202; a worker sends later.
async fn accept_records(
    state: &AppState,
    messages: &[OutboundMms],
    callback_url: Option<String>,
    batch_id: Option<String>,
    skipped: Vec<String>,
) -> Result<Answer, Failure> {
    let records: Vec<_> = messages
        .iter()
        .map(|mms| {
            state
                .delivery
                .new_record(new_id(), mms, callback_url.clone(), batch_id.clone())
        })
        .collect();
    if !records.is_empty() {
        state
            .delivery
            .enqueue(&records)
            .await
            .map_err(|e| Failure::Send(SendError::Store(e)))?;
    }
    tracing::debug!(
        messages = records.len(),
        batch.id = batch_id.as_deref().unwrap_or(""),
        "accepted for asynchronous delivery"
    );
    match batch_id {
        Some(batch_id) => json_answer(
            StatusCode::ACCEPTED,
            &BatchResponse {
                batch_id,
                messages: records
                    .into_iter()
                    .map(|r| BatchMessage {
                        id: r.id,
                        recipient_number: r.recipient_number,
                    })
                    .collect(),
                skipped: skipped
                    .into_iter()
                    .map(|recipient_number| Skipped {
                        recipient_number,
                        code: "recipient_opted_out",
                    })
                    .collect(),
            },
            None,
        ),
        None => {
            let id = records.into_iter().next().map(|r| r.id).unwrap_or_default();
            let location = format!("/messages/{id}");
            json_answer(
                StatusCode::ACCEPTED,
                &AcceptedResponse {
                    id,
                    status: "accepted",
                },
                Some(location),
            )
        }
    }
}

fn json_answer(
    status: StatusCode,
    body: &impl Serialize,
    location: Option<String>,
) -> Result<Answer, Failure> {
    Ok(Answer {
        status,
        body: serde_json::to_vec(body).map_err(|_| Failure::Api(ApiError::internal()))?,
        location,
    })
}

fn error_answer(e: &ApiError) -> Answer {
    Answer {
        status: e.status(),
        body: e.body_json(),
        location: None,
    }
}
