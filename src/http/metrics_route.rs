//! `GET /metrics` and the middleware that counts and times every request by route template.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::middleware::route_template;
use super::openapi::ErrorResponse;
use super::AppState;
use crate::metrics::{Metrics, CONTENT_TYPE};

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

/// Counts each answered request by method, route template (never the raw path) and status.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = route_template(&request);
    let response = next.run(request).await;
    metrics.record_http(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
