//! `POST /send-mms`: check the request, record it, send it through Plivo, answer with the receipt.

use axum::extract::{Request, State};
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
use crate::media_upload::send::{self, MultipartSend};
use crate::media_upload::UploadedMedia;
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
        (status = 409, description = "A request with this Idempotency-Key is still in flight", body = ErrorResponse),
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
    request: Request,
) -> Response {
    let respond_async = prefers_async(&headers);
    let begun = async {
        let key = idempotency::key_from_headers(&headers)?;
        // --- media uploads: a multipart body is a form body plus files ---
        let max_upload = state.config.uploads.max_upload_bytes;
        let (format, body, files) = send::read_send_body(request, &state, max_upload).await?;
        let compared = files.as_ref().map_or(&body[..], |f| &f.fingerprint[..]);
        let begin = idempotency::begin(state.delivery.store(), key, compared).await?;
        Ok::<_, ApiError>((format, body, files, begin))
    };
    let (format, body, files, claim) = match begun.await {
        Ok((_, _, _, Begin::Replay(answer))) => {
            return decorate(answer.into_response(), respond_async)
        }
        Ok((format, body, files, Begin::Proceed(claim))) => (format, body, files, claim),
        Err(e) => return e.into_response(),
    };
    let processed = process(&state, format, &body, files.as_ref(), respond_async).await;
    let (response, answer, retryable) = match processed {
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

async fn process(
    state: &AppState,
    format: BodyFormat,
    body: &[u8],
    files: Option<&MultipartSend>,
    respond_async: bool,
) -> Result<Answer, Failure> {
    let request = parse_send_request(format, body)?;
    let (mut messages, callback_url, bulk) = match request {
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
    // --- media uploads ---
    if let Some(files) = files {
        files.attachments.check_size(&messages[0])?;
    }
    state
        .ops
        .media_preflight()
        .check(&messages[0])
        .await
        .map_err(ApiError::from)?;
    // --- media uploads: everything is valid; the files go to Plivo before the message ---
    let uploads = match files {
        Some(files) => files
            .attachments
            .upload_into(state.delivery.dispatcher(), &mut messages)
            .await
            .map_err(|e| Failure::Send(SendError::Plivo(e)))?,
        None => Vec::new(),
    };
    if bulk || respond_async {
        return accept(state, &messages, callback_url, bulk, &uploads).await;
    }
    send_now(state, &messages[0], callback_url, &uploads).await
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
    uploads: &[UploadedMedia],
) -> Result<Answer, Failure> {
    let id = new_id();
    tracing::debug!(message.id = %id, recipient = %mms.to.masked(), "sending MMS");
    let record = state
        .delivery
        .new_record(id.clone(), mms, callback_url, None);
    let result = state.delivery.send_now(record, mms).await;
    // --- media uploads ---
    send::record_uploads(state.delivery.store().as_ref(), vec![id.clone()], uploads).await;
    let sent = result.map_err(|e| {
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

/// The asynchronous path: record durably (the outbox), answer 202; a worker sends later.
async fn accept(
    state: &AppState,
    messages: &[OutboundMms],
    callback_url: Option<String>,
    bulk: bool,
    uploads: &[UploadedMedia],
) -> Result<Answer, Failure> {
    let batch_id = bulk.then(new_id);
    let records: Vec<_> = messages
        .iter()
        .map(|mms| {
            state
                .delivery
                .new_record(new_id(), mms, callback_url.clone(), batch_id.clone())
        })
        .collect();
    state
        .delivery
        .enqueue(&records)
        .await
        .map_err(|e| Failure::Send(SendError::Store(e)))?;
    // --- media uploads ---
    let ids = records.iter().map(|r| r.id.clone()).collect();
    send::record_uploads(state.delivery.store().as_ref(), ids, uploads).await;
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
