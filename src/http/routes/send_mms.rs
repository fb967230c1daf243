//! `POST /send-mms`: HTTP in and out of the send service (`src/send/`): reads the headers and the
//! body into a [`SendCommand`], and writes the [`Outcome`] back as status, headers and JSON.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use crate::api_error::ApiError;
use crate::http::auth::Caller;
use crate::http::idempotency;
use crate::http::openapi::ErrorResponse;
use crate::http::send_request::{parse_send_request, BodyFormat};
use crate::http::AppState;
use crate::media_upload::send::{read_send, MultipartSend};
use crate::send::{IdempotencyKey, Outcome, SendCommand};

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
        (crate::http::routes::media::SendMmsMultipart = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "Plivo accepted the message", body = crate::send::SendMmsResponse),
        (status = 202, description = "Accepted for asynchronous delivery (`Prefer: respond-async`, or `recipientNumbers`); see Location", body = crate::send::AcceptedResponse),
        (status = 409, description = "The recipient opted out (recipient_opted_out; nothing recorded or sent), or a request with this Idempotency-Key is still in flight", body = ErrorResponse),
        (status = 400, description = "The request is wrong (or, with MEDIA_PREFLIGHT, a media URL failed its check); nothing was sent", body = ErrorResponse),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`: a JSON or form body over 64 KiB, a multipart body over MAX_UPLOAD_BYTES; `media_too_large`: a file over 2,000,000 bytes, or files and text over 5,000,000", body = ErrorResponse),
        (status = 415, description = "Neither JSON, form nor multipart", body = ErrorResponse),
        (status = 422, description = "Plivo rejected the message, or the Idempotency-Key was used with another body", body = ErrorResponse),
        (status = 429, description = "Rate limit or in-flight limit reached; see Retry-After", body = ErrorResponse),
        (status = 502, description = "Plivo refused our credentials or answered unexpectedly", body = ErrorResponse),
        (status = 503, description = "Plivo unavailable after retries, or the service is overloaded; see Retry-After", body = ErrorResponse),
        (status = 504, description = "Plivo or the whole request timed out", body = ErrorResponse),
    )
)]
pub async fn send_mms(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let respond_async = prefers_async(&headers);
    let caller = caller.map(|Extension(c)| c);
    let command = match read_command(&state, caller, &headers, request, respond_async).await {
        Ok(command) => command,
        Err(e) => return e.into_response(),
    };
    let outcome = state.sender.send(command).await;
    respond(outcome, respond_async)
}

/// The send the request asks for, or the 4xx that says why it cannot be read.
async fn read_command(
    state: &AppState,
    caller: Option<Caller>,
    headers: &HeaderMap,
    request: Request,
    respond_async: bool,
) -> Result<SendCommand, ApiError> {
    let key = idempotency::key_from_headers(headers)?;
    // --- media uploads: a multipart body is a form body plus files (MAX_UPLOAD_BYTES) ---
    let max_upload = state.config.uploads.max_upload_bytes;
    let (format, body, multipart) = read_send_body(request, state, max_upload).await?;
    let request = parse_send_request(format, &body)?;
    let scope = caller.and_then(|c| state.auth.idempotency_scope(c));
    // An Idempotency-Key compares the fields and the files' bytes, not the raw multipart body.
    let compared = multipart.as_ref().map_or(&body[..], |m| &m.fingerprint[..]);
    Ok(SendCommand {
        request,
        respond_async,
        idempotency: key.map(|key| IdempotencyKey::new(&key, scope.as_deref(), compared)),
        attachments: multipart.map(|m| m.attachments).unwrap_or_default(),
    })
}

/// The outcome as HTTP: errors with their own headers (`Retry-After`), the rest as stored.
fn respond(outcome: Outcome, respond_async: bool) -> Response {
    let response = match outcome {
        Outcome::Failed(failure) => return failure.error.into_response(),
        Outcome::Replay(answer) => answer.into_response(),
        other => other.answer().into_response(),
    };
    decorate(response, respond_async)
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

/// Adds `Preference-Applied` to a 202 when `respond-async` was asked for.
fn decorate(mut response: Response, respond_async: bool) -> Response {
    if respond_async && response.status() == StatusCode::ACCEPTED {
        response.headers_mut().insert(
            "preference-applied",
            HeaderValue::from_static("respond-async"),
        );
    }
    response
}

/// Reads the body of a `POST /send-mms` of any format: a multipart one (up to `MAX_UPLOAD_BYTES`)
/// as a form body plus files, any other within the 64 KiB limit (`DefaultBodyLimit`).
pub async fn read_send_body<S: Send + Sync>(
    request: axum::extract::Request,
    state: &S,
    max_upload_bytes: u64,
) -> Result<(BodyFormat, Bytes, Option<MultipartSend>), ApiError> {
    if crate::media_upload::is_multipart(request.headers()) {
        let (parts, body) = request.into_parts();
        let send = read_send(&parts.headers, body, max_upload_bytes).await?;
        let form_body = Bytes::from(send.form_body.clone());
        return Ok((BodyFormat::Form, form_body, Some(send)));
    }
    let format = BodyFormat::from_headers(request.headers())?;
    let body = Bytes::from_request(request, state).await?;
    Ok((format, body, None))
}
