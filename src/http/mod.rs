//! The HTTP API: state, router, and the layers every request goes through.

pub mod auth;
pub mod cors;
pub mod error;
// --- hardening: head limits ---
pub mod head_limits;
pub mod idempotency;
pub mod listener;
pub mod load_limits;
pub mod metrics_route;
pub mod middleware;
pub mod openapi;
pub mod ops_layers;
pub mod paths;
// --- webhook hardening ---
pub mod plivo_webhook;
pub mod rate_limit;
pub mod routes;
pub mod security_headers;
pub mod send_request;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    /// The message store and Plivo.
    pub delivery: Delivery,
    /// The send service (`src/send/`).
    pub sender: crate::send::Sender,
    /// This app's metrics registry (`GET /metrics`).
    pub metrics: crate::metrics::Metrics,
    /// Keys, limits and media preflight (`src/http/ops_layers.rs`).
    pub ops: ops_layers::OpsState,
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

/// Every route, each documented by its handler's `#[utoipa::path]`; add new ones here with
/// `.routes(routes!(handler))` so they appear in `GET /openapi.json` (a test checks that).
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(routes::health::health))
        .routes(routes!(routes::health::ready))
        .routes(routes!(routes::send_mms::send_mms))
        .routes(routes!(routes::messages::list_messages))
        .routes(routes!(routes::messages::get_message))
        // --- retention ---
        .routes(routes!(routes::delete_message::delete_message))
        .routes(routes!(routes::webhooks::plivo_status))
        // --- resend, redelivery ---
        .routes(routes!(routes::resend::resend_message))
        .routes(routes!(routes::redeliver::redeliver))
        // --- inbound messages and opt-outs ---
        .routes(routes!(routes::inbound::plivo_inbound))
        .routes(routes!(routes::opt_outs::list_opt_outs))
        .routes(routes!(
            routes::opt_outs::get_opt_out,
            routes::opt_outs::put_opt_out,
            routes::opt_outs::delete_opt_out
        ))
        .routes(routes!(metrics_route::metrics))
        .routes(routes!(openapi::openapi_json))
        // --- media uploads ---
        .routes(routes!(routes::media::upload_media))
        // --- console ---
        .routes(routes!(routes::stats::stats))
        .routes(routes!(routes::console::console))
        .routes(routes!(routes::console::console_asset))
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let (routes, spec) = api_routes().split_for_parts();
    let routes = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(Extension(openapi::OpenApiJson::new(&spec)))
        // --- hardening: head limits ---
        .layer(axum::middleware::from_fn(head_limits::check_head));
    ops_layers::apply(routes, &state)
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
