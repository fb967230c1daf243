//! The simulator's HTTP side: router, Message handlers and Plivo-shaped error answers.

use std::net::SocketAddr;

use axum::body::to_bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::Utc;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::callbacks::{spawn_script, Target};
use super::scenarios::{early_callback, send_scenario, SendScenario, Status};
use super::send::{validate, SendRequest};
use super::state::{MessageRecord, SimulatorState};
use super::{mdr, RecordedRequest};

/// Bodies above this are refused (Plivo's own limit is not documented).
const BODY_LIMIT: usize = 1024 * 1024;

/// The simulator's routes (Plivo's Message API), for serving or for `tower::ServiceExt::oneshot`.
pub fn router(state: SimulatorState) -> Router {
    Router::new()
        .route(
            "/v1/Account/{auth_id}/Message/",
            post(send_message)
                .get(super::list::list_messages)
                .fallback(method_not_allowed),
        )
        .route(
            "/v1/Account/{auth_id}/Message/{message_uuid}/",
            get(get_message).fallback(method_not_allowed),
        )
        .route(
            super::replies::REPLY_IMAGE_PATH,
            get(super::replies::reply_image),
        )
        // --- media uploads ---
        .route(
            "/v1/Account/{auth_id}/Media/",
            post(super::media::upload).fallback(method_not_allowed),
        )
        .route(
            "/v1/Account/{auth_id}/Media/{media_id}/",
            get(super::media::get).fallback(method_not_allowed),
        )
        .fallback(not_found)
        .with_state(state)
}

/// Plivo's error shape: `{"api_id": "<uuid>", "error": "<text>"}`.
pub(crate) fn error(status: StatusCode, text: &str) -> Response {
    let body = json!({"api_id": Uuid::new_v4().to_string(), "error": text});
    (status, Json(body)).into_response()
}

pub(crate) async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found")
}

async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

pub(crate) fn too_many_requests() -> Response {
    error(StatusCode::TOO_MANY_REQUESTS, "too many requests")
}

/// Basic auth must name the path's account and carry the configured token.
pub(crate) fn authorized(state: &SimulatorState, path_auth_id: &str, headers: &HeaderMap) -> bool {
    let config = state.config();
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Some(decoded) = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return false;
    };
    let Some((id, token)) = decoded.split_once(':') else {
        return false;
    };
    let token_ok: bool = token
        .as_bytes()
        .ct_eq(config.auth_token.expose_secret().as_bytes())
        .into();
    id == config.auth_id && path_auth_id == config.auth_id && token_ok
}

pub(crate) fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "authentication credentials were not provided",
    )
}

async fn send_message(
    State(state): State<SimulatorState>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let requester_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "127.0.0.1".to_owned(), |c| c.0.ip().to_string());
    let bytes = to_bytes(body, BODY_LIMIT).await;
    let parsed: Option<Value> = bytes
        .as_ref()
        .ok()
        .and_then(|b| serde_json::from_slice(b).ok());
    state.record_request(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: parsed.clone().unwrap_or(Value::Null),
        received_at: Utc::now(),
    });

    let Ok(Path(auth_id)) = path else {
        return not_found().await;
    };
    if !authorized(&state, &auth_id, &parts.headers) {
        return unauthorized();
    }
    let Some(_slot) = state.admit() else {
        tracing::info!("simulator: rate limit hit, answering 429");
        return too_many_requests();
    };
    if bytes.is_err() {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    }
    let Some(body) = parsed else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid json data sent in raw POST",
        );
    };
    let send = match validate(&body) {
        Ok(send) => send,
        Err(text) => return error(StatusCode::BAD_REQUEST, &text),
    };
    // --- media uploads ---
    if let Some(id) = super::media::unknown_media_id(&state, &body) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("media_id {id} is not a media of this account"),
        );
    }
    if send.valid.is_empty() {
        let text = match send.invalid.as_slice() {
            [one] => format!("'{}' is not a valid phone number.", shorten(one)),
            _ => "invalid phone numbers.".to_owned(),
        };
        return error(StatusCode::BAD_REQUEST, &text);
    }
    if let Some(response) = play_scenario(&state, &send).await {
        return response;
    }
    // --- reconciliation: answers that go astray ---
    let lost = lose_answer(&state, &send);
    let early = send.valid.iter().any(|d| early_callback(d));
    let response = accept(&state, send, requester_ip, early).await;
    if lost {
        tracing::info!("simulator: accepted, dropping the answer");
        return dropped_connection();
    }
    response
}

/// `+14155550030` on odd-numbered requests: accepted and recorded, but the answer is lost.
fn lose_answer(state: &SimulatorState, send: &SendRequest) -> bool {
    send.valid
        .iter()
        .find(|d| send_scenario(d) == Some(SendScenario::AnswerLost))
        .is_some_and(|d| state.bump_magic(d) % 2 == 1)
}

/// An answer whose body breaks off: the client sees the connection end without a readable answer.
fn dropped_connection() -> Response {
    let broken = futures::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("connection dropped"))
    });
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .body(axum::body::Body::from_stream(broken))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Applies the first HTTP-level magic scenario among the valid destinations, if any. `None`
/// means the send proceeds to 202.
async fn play_scenario(state: &SimulatorState, send: &SendRequest) -> Option<Response> {
    let (digits, scenario) = send
        .valid
        .iter()
        .find_map(|d| send_scenario(d).map(|s| (d.as_str(), s)))?;
    tracing::info!(scenario = ?scenario, "simulator: magic number");
    match scenario {
        SendScenario::Refuse => None,
        SendScenario::ServerErrorOnce => (state.bump_magic(digits) % 2 == 1)
            .then(|| error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")),
        SendScenario::RateLimitedOnce => (state.bump_magic(digits) % 2 == 1).then(|| {
            let mut response = too_many_requests();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }),
        SendScenario::Hang => {
            tokio::time::sleep(state.config().hang_for).await;
            None
        }
        SendScenario::Unavailable => Some(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "service unavailable",
        )),
        SendScenario::GeoForbidden => Some(error(
            StatusCode::FORBIDDEN,
            "Geo-permission to the destination country is not enabled",
        )),
        // Handled after acceptance (`lose_answer`).
        SendScenario::AnswerLost => None,
        SendScenario::NeverAnswers => {
            if state.bump_magic(digits) % 2 == 1 {
                tokio::time::sleep(state.config().hang_for).await;
                return Some(dropped_connection());
            }
            None
        }
    }
}

/// Queues one message per valid destination, starts their scripts and answers 202; with
/// `early`, each message's first callback is posted before the answer.
async fn accept(
    state: &SimulatorState,
    send: SendRequest,
    requester_ip: String,
    early: bool,
) -> Response {
    let now = Utc::now();
    let target = send.callback_url.as_ref().map(|url| Target {
        url: url.clone(),
        method: send.callback_method,
    });
    let mut uuids = Vec::with_capacity(send.valid.len());
    for to in &send.valid {
        let uuid = Uuid::new_v4();
        state.insert_message(MessageRecord {
            uuid,
            from: send.src.clone(),
            to: to.clone(),
            message_type: send.message_type.clone(),
            powerpack_uuid: send.powerpack_uuid.clone(),
            requester_ip: requester_ip.clone(),
            state: Status::Queued,
            error_code: None,
            created_at: now,
            sent_at: None,
            updated_at: now,
        });
        spawn_script(state.clone(), uuid, target.clone(), early).await;
        uuids.push(uuid.to_string());
    }
    tracing::info!(
        messages = uuids.len(),
        invalid = send.invalid.len(),
        "simulator: queued"
    );
    let mut body = json!({
        "api_id": Uuid::new_v4().to_string(),
        "message": "message(s) queued",
        "message_uuid": uuids,
    });
    if !send.invalid.is_empty() {
        body["invalid_number"] = json!(send.invalid);
    }
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

async fn get_message(
    State(state): State<SimulatorState>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path((auth_id, message_uuid))) = path else {
        return not_found().await;
    };
    if !authorized(&state, &auth_id, &headers) {
        return unauthorized();
    }
    let Some(_slot) = state.admit() else {
        return too_many_requests();
    };
    match Uuid::parse_str(&message_uuid)
        .ok()
        .and_then(|uuid| state.message(uuid))
    {
        Some(record) => (StatusCode::OK, Json(mdr::to_json(&record, &auth_id))).into_response(),
        None => not_found().await,
    }
}

/// Keeps echoed input short.
fn shorten(input: &str) -> String {
    input.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::SimulatorConfig;
    use axum::body::Body;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn router_works_with_oneshot_and_without_connect_info() {
        let config = SimulatorConfig::new("MAXXXXXXXXXXXXXXXXXX", "tok".into());
        let state = SimulatorState::new(config);
        let body = json!({"src": "14155550100", "dst": "14155551234", "type": "mms",
                          "media_urls": ["https://e.com/a.jpg"]});
        let request = Request::post("/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/")
            .header(
                header::AUTHORIZATION,
                format!("Basic {}", STANDARD.encode("MAXXXXXXXXXXXXXXXXXX:tok")),
            )
            .body(Body::from(body.to_string()))
            .expect("request");
        let response = router(state.clone())
            .oneshot(request)
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let bytes = to_bytes(response.into_body(), BODY_LIMIT)
            .await
            .expect("body");
        let json: Value = serde_json::from_slice(&bytes).expect("json");
        let uuid = json["message_uuid"][0]
            .as_str()
            .and_then(|u| Uuid::parse_str(u).ok());
        let record = uuid.and_then(|u| state.message(u)).expect("recorded");
        assert_eq!(record.requester_ip, "127.0.0.1");
        assert_eq!(state.requests().len(), 1);
    }
}
