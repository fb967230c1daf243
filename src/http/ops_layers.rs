//! The operational layers around every route, in one place: security headers, CORS, metrics,
//! caller identification, rate limits, API keys, concurrency limits and the request time limit.

use std::sync::Arc;
use std::time::Duration;

use axum::middleware::{from_fn, from_fn_with_state};
use axum::Router;

use super::auth::{self, Authenticator};
use super::load_limits::{self, ConcurrencyLimits};
use super::rate_limit::{self, CallerRateLimiter};
use super::{cors, metrics_route, security_headers, AppState};
use crate::config::ops::OpsConfig;
use crate::media_preflight::MediaPreflight;

/// What the operational layers and the media preflight need; cheap to clone.
#[derive(Clone, Debug)]
pub struct OpsState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    auth: Arc<Authenticator>,
    rate_limiter: Option<Arc<CallerRateLimiter>>,
    concurrency: Arc<ConcurrencyLimits>,
    request_timeout: Duration,
    config: OpsConfig,
    media_preflight: MediaPreflight,
}

impl OpsState {
    /// Builds the limiters and the preflight client from the settings.
    pub fn new(config: &OpsConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            inner: Arc::new(Inner {
                auth: Arc::new(Authenticator::new(&config.api_keys)),
                rate_limiter: config
                    .rate_limit_per_minute
                    .map(|n| Arc::new(CallerRateLimiter::per_minute(n))),
                concurrency: Arc::new(ConcurrencyLimits::new(
                    config.max_concurrent_requests,
                    config.max_concurrent_requests_per_client,
                )),
                request_timeout: config.request_timeout,
                config: config.clone(),
                media_preflight: MediaPreflight::from_config(config)?,
            }),
        })
    }

    /// Checks presented API keys.
    pub fn auth(&self) -> &Authenticator {
        &self.inner.auth
    }

    /// The rate limiter, when `RATE_LIMIT_PER_MINUTE` is set.
    pub fn rate_limiter(&self) -> Option<&CallerRateLimiter> {
        self.inner.rate_limiter.as_deref()
    }

    /// The limits on requests in flight.
    pub fn concurrency(&self) -> &ConcurrencyLimits {
        &self.inner.concurrency
    }

    /// `REQUEST_TIMEOUT_MS`.
    pub fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// The media preflight (disabled unless `MEDIA_PREFLIGHT=true`).
    pub fn media_preflight(&self) -> &MediaPreflight {
        &self.inner.media_preflight
    }
}

/// Wraps every route (and the fallbacks) of `router` in the operational layers. Outermost first:
/// security headers, CORS, metrics, caller identification, rate limit, API key, concurrency,
/// time limit.
pub fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let ops = &state.ops;
    let inner = &ops.inner;
    let router = router
        .layer(from_fn_with_state(
            inner.request_timeout,
            load_limits::limit_time,
        ))
        .layer(from_fn_with_state(
            inner.concurrency.clone(),
            load_limits::limit_concurrency,
        ))
        .layer(from_fn_with_state(inner.auth.clone(), auth::require_key));
    let router = match &inner.rate_limiter {
        Some(limiter) => router.layer(from_fn_with_state(limiter.clone(), rate_limit::limit_rate)),
        None => router,
    };
    let router = router
        .layer(from_fn_with_state(inner.auth.clone(), auth::identify))
        .layer(from_fn_with_state(
            state.metrics.clone(),
            metrics_route::track,
        ));
    let router = match &ops.inner.config.cors_allowed_origins {
        Some(origins) => router.layer(cors::cors_layer(origins)),
        None => router,
    };
    router.layer(from_fn(security_headers::security_headers))
}
