//! `POST /webhooks/plivo/inbound`: Plivo's incoming-message webhook (`docs/plivo-api.md` §11),
//! verified like status callbacks, then stored once, forwarded, and read for STOP/START.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use crate::api_error::ApiError;
use crate::delivery::callbacks::inbound_forward;
use crate::domain::mask;
use crate::http::openapi::ErrorResponse;
use crate::http::plivo_webhook::verify;
use crate::http::AppState;
use crate::optouts::requested_action;
use crate::plivo::inbound_message::InboundParams;
use crate::store::{InboundOutcome, NewInbound, OptOutChange, OptOutSource};

/// The path Plivo posts incoming messages to (the Plivo Application's `message_url`).
pub const INBOUND_PATH: &str = "/webhooks/plivo/inbound";

/// Verifies the signature over the raw body, stores the message once (by `MessageUUID`), queues it
/// for `INBOUND_CALLBACK_URL`, and applies a STOP or START.
#[utoipa::path(post, path = "/webhooks/plivo/inbound", tag = "webhooks", security(()),
    request_body(content_type = "application/x-www-form-urlencoded",
        description = "Plivo's incoming-message parameters (From, To, Type, Text or Body, MessageUUID, \
                       MessageIntent, MediaCount, Media0…/Media1…), signed as status callbacks are"),
    responses(
        (status = 200, description = "Stored (also for a repeat of a message already stored)"),
        (status = 400, description = "Signed, but a parameter is not as Plivo sends it (code invalid_callback); nothing stored", body = ErrorResponse),
        (status = 403, description = "Missing or wrong signature; nothing stored", body = ErrorResponse),
        (status = 503, description = "The message store is not answering", body = ErrorResponse),
    ))]
pub async fn plivo_inbound(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body?;
    let verified = verify(
        &state,
        INBOUND_PATH,
        &uri,
        &headers,
        &body,
        InboundParams::parse,
    )
    .await?;
    let parsed = verified.params.clone();
    let message = NewInbound {
        id: uuid::Uuid::now_v7().to_string(),
        message_uuid: parsed.message_uuid,
        from: parsed.from,
        to: parsed.to,
        text: parsed.text,
        media_urls: parsed.media_urls,
        received_at: Utc::now(),
    };
    let action = requested_action(parsed.intent.as_deref(), message.text.as_deref());
    let change = action.map(|action| OptOutChange {
        number: message.from.clone(),
        action,
        source: OptOutSource::Inbound,
        at: message.received_at,
    });
    let forward = state
        .config
        .inbound
        .callback_url
        .as_ref()
        .map(|url| inbound_forward(&message, url.as_str()));
    let outcome = state
        .delivery
        .store()
        .record_inbound(&message, forward.as_ref(), change.as_ref())
        .await
        .map_err(ApiError::from)?;
    verified
        .keep_nonce_with(&state, &message.message_uuid)
        .await;
    match outcome {
        InboundOutcome::Repeat => tracing::debug!(
            message.uuid = %message.message_uuid,
            "inbound message already stored; repeat ignored"
        ),
        InboundOutcome::Stored { opt_out_changed } => {
            state.metrics.record_inbound_message();
            tracing::info!(
                message.id = %message.id,
                message.uuid = %message.message_uuid,
                from = %mask(&message.from),
                media = message.media_urls.len(),
                "inbound message stored"
            );
            if let (Some(change), true) = (&change, opt_out_changed) {
                state
                    .metrics
                    .record_opt_out_change(change.action, change.source);
                tracing::info!(
                    number = %mask(&change.number),
                    action = change.action.as_str(),
                    "opt-out list changed by an inbound message"
                );
            }
        }
    }
    Ok(Json(json!({"status": "ok"})))
}
