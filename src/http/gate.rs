//! The one middleware every request goes through (inside only the panic catcher). In order:
//!
//! 1. a request id (the caller's `X-Request-Id` when usable, else a new one) and a span that every
//!    log line of the request carries; who is calling ([`Caller`]);
//! 2. CORS, when `CORS_ALLOWED_ORIGINS` is set (tower-http's, [`cors`]): a preflight is answered
//!    here, and everything below gets its headers;
//! 3. the head limits (`414`, `431`, [`head_limits`]), the rate limit ([`super::rate_limit`]), the
//!    API key ([`auth`]), the requests in flight ([`load_limits`]) and the time limit
//!    (`REQUEST_TIMEOUT_MS`), then the handler;
//! 4. on the way out, whatever answered: the security headers, the request id, the metrics (by
//!    route template) and one log line.
//!
//! Each check lives in its own module as a plain function; this file only puts them in order, so
//! that a request costs one middleware rather than one per concern. Which rules a route gets
//! (probe, open, protected) is read off the router that holds it (`http/mod.rs`).

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::{Layer, ServiceExt};
use tower_http::cors::CorsLayer;
use tracing::Instrument;
use utoipa_axum::router::OpenApiRouter;

use super::auth::{self, Authenticator, Caller};
use super::load_limits::ConcurrencyLimits;
use super::rate_limit::CallerRateLimiter;
use super::{cors, head_limits, load_limits, routes::console, security_headers, AppState};
use crate::api_error::ApiError;
use crate::config::ops::OpsConfig;
use crate::metrics::{Metrics, RouteLabel};

/// The header carrying the request id, accepted from callers and always returned.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the gate needs, and nothing else: built once, shared by every request.
#[derive(Debug)]
pub struct Gate {
    auth: Arc<Authenticator>,
    rate_limiter: Option<CallerRateLimiter>,
    concurrency: ConcurrencyLimits,
    request_timeout: Duration,
    metrics: Metrics,
    classes: RouteClasses,
    cors: Option<CorsLayer>,
}

impl Gate {
    /// The gate for these settings and routes, counting into `metrics`.
    pub fn new(
        config: &OpsConfig,
        auth: Arc<Authenticator>,
        metrics: Metrics,
        classes: RouteClasses,
    ) -> Self {
        Self {
            auth,
            rate_limiter: config
                .rate_limit_per_minute
                .map(CallerRateLimiter::per_minute),
            concurrency: ConcurrencyLimits::new(
                config.max_concurrent_requests,
                config.max_concurrent_requests_per_client,
            ),
            request_timeout: config.request_timeout,
            metrics,
            classes,
            cors: config.cors_allowed_origins.as_ref().map(cors::cors_layer),
        }
    }
}

/// Which route templates are probes and which are open, read off the routers that hold them
/// (`probe_routes`, `open_routes` in `http/mod.rs`), so the rules cannot drift from the routes.
#[derive(Debug, Default)]
pub struct RouteClasses {
    probes: HashSet<String>,
    open: HashSet<String>,
}

impl RouteClasses {
    /// The templates of `probes` (open, never limited nor shed) and of `open` (open, not rate
    /// limited).
    pub fn new(probes: &OpenApiRouter<AppState>, open: &OpenApiRouter<AppState>) -> Self {
        let templates = |router: &OpenApiRouter<AppState>| -> HashSet<String> {
            router.get_openapi().paths.paths.keys().cloned().collect()
        };
        Self {
            probes: templates(probes),
            open: templates(open),
        }
    }

    fn of(&self, route: Option<&MatchedPath>, path: &str) -> PathClass {
        let template = route.map_or("", MatchedPath::as_str);
        let probe = self.probes.contains(template);
        PathClass {
            probe,
            open: probe || self.open.contains(template),
            console: console::is_console_path(path),
        }
    }
}

/// Which rules apply to a request: probes are never limited nor shed; open routes (probes,
/// Plivo's callbacks, the console's files) need no key and are not rate limited. A path no route
/// matches is protected (without a key it is a `401`, not a `404`, so it says nothing of routes).
#[derive(Debug, Clone, Copy)]
struct PathClass {
    probe: bool,
    open: bool,
    console: bool,
}

/// The middleware: see the module documentation for the order.
pub async fn gate(State(gate): State<Arc<Gate>>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(request.headers());
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route_label = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = request.method().clone();
    let class = gate.classes.of(route.as_ref(), request.uri().path());
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or_default(),
        method = %method,
        route = route_label,
    );

    let caller = gate.auth.caller(request.headers(), auth::peer_ip(&request));
    request.extensions_mut().insert(caller);
    let mut response = async {
        match &gate.cors {
            None => admit(&gate, caller, class, request, next).await,
            Some(cors) => with_cors(cors, &gate, caller, class, request, next).await,
        }
    }
    .instrument(span.clone())
    .await;

    let headers = response.headers_mut();
    security_headers::apply(headers, class.console);
    headers.insert(REQUEST_ID.clone(), id);

    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    gate.metrics.record_http(
        &method,
        RouteLabel::of(route.as_ref()),
        status,
        elapsed.as_secs_f64(),
    );
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, latency_ms, "request finished");
        } else {
            tracing::info!(status, latency_ms, "request finished");
        }
    });
    response
}

/// The checks, then the handler. The rate limiter's headers go on whatever answers, a refusal
/// included.
async fn admit(
    gate: &Gate,
    caller: Caller,
    class: PathClass,
    request: Request,
    next: Next,
) -> Response {
    if let Err(refused) = head_limits::check(&request) {
        return refused.into_response();
    }
    let Some(limiter) = gate.rate_limiter.as_ref().filter(|_| !class.open) else {
        return admit_within_limits(gate, caller, class, request, next).await;
    };
    let verdict = limiter.check(caller);
    let mut response = if verdict.allowed {
        admit_within_limits(gate, caller, class, request, next).await
    } else {
        ApiError::rate_limited(verdict.retry_after_secs).into_response()
    };
    limiter.set_headers(response.headers_mut(), verdict);
    response
}

/// The API key, the requests in flight and the time limit, then the handler.
async fn admit_within_limits(
    gate: &Gate,
    caller: Caller,
    class: PathClass,
    request: Request,
    next: Next,
) -> Response {
    if !class.open && !gate.auth.admits(caller) {
        return auth::unauthorized();
    }
    let _slot = if class.probe {
        None
    } else {
        match gate.concurrency.acquire(caller) {
            Ok(slot) => Some(slot),
            Err(shed) => {
                tracing::warn!(code = shed.code(), "request shed");
                return shed.into_response();
            }
        }
    };
    load_limits::within(gate.request_timeout, next.run(request)).await
}

/// [`admit`] inside tower-http's CORS service (`CORS_ALLOWED_ORIGINS`): a preflight is answered
/// by CORS alone (no key, no limits), and every other answer, the gate's refusals included, gets
/// the CORS headers a browser needs to read it.
async fn with_cors(
    cors: &CorsLayer,
    gate: &Gate,
    caller: Caller,
    class: PathClass,
    request: Request,
    next: Next,
) -> Response {
    let mut next = Some(next);
    let inner = tower::service_fn(|request: Request| {
        let next = next.take();
        async move {
            Ok::<_, Infallible>(match next {
                Some(next) => admit(gate, caller, class, request, next).await,
                // CORS calls its inner service at most once per request.
                None => ApiError::internal().into_response(),
            })
        }
    });
    match cors.layer(inner).oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}

/// A caller's id is kept when it is 1–128 visible ASCII characters; otherwise one is made.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&REQUEST_ID)
        .filter(|v| (1..=128).contains(&v.len()) && v.as_bytes().iter().all(u8::is_ascii_graphic))
        .cloned()
        .unwrap_or_else(new_request_id)
}

fn new_request_id() -> HeaderValue {
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(id).expect("a UUID is a valid header value")
}

/// Turns a panic in a handler into the contract's JSON 500 (the panic itself is logged).
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown");
    tracing::error!(panic = detail, "handler panicked");
    ApiError::internal().into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_when_usable_and_made_otherwise() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(&REQUEST_ID, HeaderValue::from_str(value).unwrap());
            request_id(&headers)
        };
        assert_eq!(with("abc-123"), "abc-123");
        let long = "x".repeat(129);
        for unusable in ["", "has space", long.as_str()] {
            let made = with(unusable);
            assert_ne!(made, unusable);
            assert!(
                uuid::Uuid::parse_str(made.to_str().unwrap()).is_ok(),
                "{made:?}"
            );
        }
        assert_ne!(request_id(&HeaderMap::new()), request_id(&HeaderMap::new()));
    }

    #[test]
    fn route_classes_come_from_the_routers() {
        let classes =
            RouteClasses::new(&super::super::probe_routes(), &super::super::open_routes());
        assert!(classes.probes.contains("/health") && classes.probes.contains("/ready"));
        assert!(classes.open.contains("/webhooks/plivo/status"));
        assert!(classes.open.contains("/console/{asset}"));
        assert!(!classes.open.contains("/send-mms") && !classes.probes.contains("/metrics"));
        let unmatched = classes.of(None, "/webhooks/nothing");
        assert!(!unmatched.open && !unmatched.probe);
    }
}
