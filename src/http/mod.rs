//! The HTTP API: state, router, and the layers every request goes through.

pub mod auth;
pub mod cors;
pub mod gate;
// --- hardening: head limits ---
pub mod head_limits;
pub mod idempotency;
pub mod listener;
pub mod load_limits;
pub mod metrics_route;
pub mod openapi;
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

use crate::api_error::ApiError;
use crate::config::Config;
use crate::delivery::Delivery;
use auth::Authenticator;
use gate::{Gate, RouteClasses};

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
    /// The API keys (`API_KEYS`): who is calling, and the scope of their idempotency keys.
    pub auth: Arc<Authenticator>,
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

/// The probes: open without a key, never rate limited and never shed, so load balancers keep
/// seeing the service.
pub fn probe_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::health::health))
        .routes(routes!(routes::health::ready))
}

/// Open without a key and not rate limited, but counted in the requests in flight: Plivo's
/// callbacks (they are signed) and the console's page and files (they hold no data; the page asks
/// for a key and sends it with every API request).
pub fn open_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::webhooks::plivo_status))
        // --- inbound messages and opt-outs ---
        .routes(routes!(routes::inbound::plivo_inbound))
        // --- console ---
        .routes(routes!(routes::console::console))
        .routes(routes!(routes::console::console_asset))
}

/// Everything else: an API key when `API_KEYS` is set, the rate limit, the limits in flight.
pub fn protected_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::send_mms::send_mms))
        .routes(routes!(routes::messages::list_messages))
        .routes(routes!(routes::messages::get_message))
        // --- retention ---
        .routes(routes!(routes::delete_message::delete_message))
        // --- resend, redelivery ---
        .routes(routes!(routes::resend::resend_message))
        .routes(routes!(routes::redeliver::redeliver))
        // --- inbound messages and opt-outs ---
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
}

/// Every route, each documented by its handler's `#[utoipa::path]`; add new ones to one of the
/// three routers above with `.routes(routes!(handler))` so they appear in `GET /openapi.json` (a
/// test checks that) and get that router's rules.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(probe_routes())
        .merge(open_routes())
        .merge(protected_routes())
}

/// The whole API: the routes inside the gate (`gate.rs`: request id, trace, metrics, CORS, limits,
/// keys, security headers), inside the panic catcher.
pub fn router(state: AppState) -> Router {
    let classes = RouteClasses::new(&probe_routes(), &open_routes());
    let gate = Gate::new(
        &state.config.ops,
        state.auth.clone(),
        state.metrics.clone(),
        classes,
    );
    let (routes, spec) = api_routes().split_for_parts();
    let routes = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(Extension(openapi::OpenApiJson::new(&spec)))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(gate),
            gate::gate,
        ));
    routes
        .layer(CatchPanicLayer::custom(gate::panic_response))
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
