//! `GET /metrics` (every request is counted and timed by the gate, `gate.rs`).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::openapi::ErrorResponse;
use super::AppState;
use crate::metrics::CONTENT_TYPE;

/// The metrics in Prometheus (OpenMetrics) text format; the store's gauges are refreshed first.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus metrics (OpenMetrics text)", content_type = "application/openmetrics-text", body = String),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.refresh().await;
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}
