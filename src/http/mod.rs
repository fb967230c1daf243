//! The HTTP API: state, router, and the layers every request goes through.

pub mod error;
pub mod idempotency;
pub mod middleware;
pub mod routes;
pub mod send_request;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::Config;
use crate::delivery::Delivery;
use error::ApiError;

/// The most a request body may hold.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The configuration the service started with.
    pub config: Arc<Config>,
    /// The message store and the Plivo dispatcher.
    pub delivery: Delivery,
}

impl AppState {
    /// Whether the service can do its work right now: the message store answers (within 2 s).
    pub async fn is_ready(&self) -> bool {
        let ping = self.delivery.store().ping();
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(2), ping).await,
            Ok(Ok(()))
        )
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(routes::health::health))
        .route("/ready", get(routes::health::ready))
        .route("/send-mms", post(routes::send_mms::send_mms))
        .route("/messages", get(routes::messages::list_messages))
        .route("/messages/{id}", get(routes::messages::get_message))
        .route(
            routes::webhooks::STATUS_PATH,
            post(routes::webhooks::plivo_status),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(middleware::trace_requests))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("There is no {method} {}.", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {method}.", uri.path()),
    )
}
