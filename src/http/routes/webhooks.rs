//! `POST /webhooks/plivo/status`: Plivo's status callbacks, verified before anything is parsed.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use chrono::Utc;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::http::error::ApiError;
use crate::http::openapi::ErrorResponse;
use crate::http::AppState;
use crate::plivo::signature::{verify_v2, verify_v3};
use crate::store::{MessageStatus, StatusUpdate, UpdateOutcome};

/// The path Plivo posts to.
pub const STATUS_PATH: &str = "/webhooks/plivo/status";

/// Verifies the signature over the raw body, then moves the message forward (never backwards).
#[utoipa::path(post, path = "/webhooks/plivo/status", tag = "webhooks", security(()),
    request_body(content_type = "application/x-www-form-urlencoded",
        description = "Plivo's status callback parameters (MessageUUID, Status, ErrorCode, …), signed with \
                       X-Plivo-Signature-V3/-Ma-V3 and X-Plivo-Signature-V3-Nonce (or the V2 headers)"),
    responses(
        (status = 200, description = "Accepted (also for repeats and unknown messages)"),
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
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let url = signed_url(&state, STATUS_PATH, &uri, &headers);
    verify(&state, &url, &params, &headers).await?;

    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(uuid), Some(plivo_status)) = (get("MessageUUID"), get("Status")) else {
        tracing::warn!("signed status callback without MessageUUID or Status; ignored");
        return Ok(Json(json!({"status": "ignored"})));
    };
    let Some(status) = map_status(plivo_status) else {
        tracing::info!(
            message.uuid = uuid,
            plivo.status = plivo_status,
            "status callback with a status we do not track; ignored"
        );
        return Ok(Json(json!({"status": "ignored"})));
    };
    let error_code = get("ErrorCode")
        .filter(|c| {
            !c.is_empty() && matches!(status, MessageStatus::Failed | MessageStatus::Undelivered)
        })
        .map(str::to_owned);
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
        .await
        .map_err(|e| super::messages::store_failure(&e))?;
    // --- opt-outs: Plivo's error 200 means the recipient opted out ---
    if let Some(to) = get("To") {
        crate::optouts::learn_from_plivo_error(
            state.delivery.store().as_ref(),
            &state.metrics,
            to,
            update.error_code.as_deref(),
        )
        .await
        .map_err(|e| super::messages::store_failure(&e))?;
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
        UpdateOutcome::NotFound => tracing::warn!(
            message.uuid = uuid,
            "status callback for an unknown message; ignored"
        ),
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

/// The URL Plivo signed: `{PUBLIC_BASE_URL}{path}` (plus the query, if any); without
/// `PUBLIC_BASE_URL`, the request's own `Host`.
pub(crate) fn signed_url(state: &AppState, path: &str, uri: &Uri, headers: &HeaderMap) -> String {
    let base = match &state.config.public_base_url {
        Some(base) => base.as_str().trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    match uri.query() {
        Some(q) => format!("{base}{path}?{q}"),
        None => format!("{base}{path}"),
    }
}

/// V3 (or Ma-V3) when any V3 header is present; otherwise V2 with a nonce that is used only once.
pub(crate) async fn verify(
    state: &AppState,
    url: &str,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let token = state.config.plivo.auth_token.expose_secret();
    let v3 = [
        header("x-plivo-signature-v3"),
        header("x-plivo-signature-ma-v3"),
    ];
    if v3.iter().any(Option::is_some) {
        let nonce = header("x-plivo-signature-v3-nonce").ok_or_else(forbidden)?;
        let ok = v3
            .into_iter()
            .flatten()
            .any(|sig| verify_v3("POST", url, params, nonce, sig, token));
        return if ok { Ok(()) } else { Err(forbidden()) };
    }
    let v2 = [
        header("x-plivo-signature-v2"),
        header("x-plivo-signature-ma-v2"),
    ];
    let nonce = header("x-plivo-signature-v2-nonce").ok_or_else(forbidden)?;
    if !v2
        .into_iter()
        .flatten()
        .any(|sig| verify_v2(url, nonce, sig, token))
    {
        return Err(forbidden());
    }
    match state.delivery.store().use_nonce(nonce, Utc::now()).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            tracing::warn!("V2-signed status callback with a nonce already used; refused");
            Err(forbidden())
        }
        Err(e) => Err(super::messages::store_failure(&e)),
    }
}

fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "invalid_signature",
        "The request does not carry a valid Plivo signature.",
    )
}
