//! `GET /health` and `GET /ready`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::http::AppState;

/// The body of both probes.
#[derive(Debug, Serialize)]
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
pub async fn health() -> Json<Health> {
    health_body("UP")
}

/// Answers 200 when the service can do its work (the message store answers), 503 otherwise.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    if state.is_ready().await {
        (StatusCode::OK, health_body("UP"))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, health_body("DOWN"))
    }
}
