//! `GET /health` and `GET /ready`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::http::AppState;

/// The body of both probes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
    timestamp: String,
}

fn health_body(status: &'static str) -> Json<Health> {
    Json(Health {
        status,
        timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

/// Answers whenever the process serves HTTP; touches nothing else.
#[utoipa::path(get, path = "/health", tag = "service", security(()),
    responses((status = 200, description = "The process serves HTTP", body = Health)))]
pub async fn health() -> Json<Health> {
    health_body("UP")
}

/// Answers 200 when the service can do its work (the message store answers), 503 otherwise.
#[utoipa::path(get, path = "/ready", tag = "service", security(()),
    responses(
        (status = 200, description = "Ready: the message store answers", body = Health),
        (status = 503, description = "Not ready (`\"status\": \"DOWN\"`)", body = Health),
    ))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    if state.is_ready().await {
        (StatusCode::OK, health_body("UP"))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, health_body("DOWN"))
    }
}
