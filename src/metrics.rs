//! Prometheus metrics: one registry per app (kept in `AppState`, never process-global), so several
//! apps in one process do not mix their numbers.
//!
//! Label values are bounded: route templates (never raw paths), a fixed set of methods, statuses,
//! outcomes and message states. No phone number, key or URL ever becomes a label.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s output (OpenMetrics text, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Supplies the numbers only the message store knows (messages by status, queue depth, age of
/// the oldest undelivered message). Called by `GET /metrics` before each rendering.
#[async_trait::async_trait]
pub trait MetricsSource: Send + Sync {
    /// Sets the store's gauges on `metrics` (with [`Metrics::set_messages_by_status`] and co.).
    async fn refresh(&self, metrics: &Metrics);
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

struct Inner {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily,
    plivo_requests: Family<OutcomeLabels, Counter>,
    plivo_retries: Counter,
    messages: Family<StatusLabels, Gauge>,
    queue_depth: Gauge,
    oldest_undelivered_age: Gauge<f64, AtomicU64>,
    source: RwLock<Option<Arc<dyn MetricsSource>>>,
}

/// The service's metrics; cheap to clone (all clones share one registry).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn latency_histogram() -> Histogram {
    // 5 ms … ~82 s: covers a slow Plivo with all its retries.
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

impl Metrics {
    /// A fresh registry with every series of the contract (§8).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mms_gateway");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        let http_duration: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by method and route template",
            http_duration.clone(),
        );
        let plivo_requests = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "plivo_requests",
            "Requests (attempts) to Plivo's Send Message API, by outcome",
            plivo_requests.clone(),
        );
        let plivo_retries = Counter::default();
        registry.register(
            "plivo_retries",
            "Attempts to Plivo that were retries of a failed attempt",
            plivo_retries.clone(),
        );
        let messages = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "messages",
            "Messages in the store, by status",
            messages.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Messages waiting for a delivery worker",
            queue_depth.clone(),
        );
        let oldest_undelivered_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "oldest_undelivered_message_age_seconds",
            "Age of the oldest message not yet handed to Plivo (0 when there is none)",
            oldest_undelivered_age.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                http_requests,
                http_duration,
                plivo_requests,
                plivo_retries,
                messages,
                queue_depth,
                oldest_undelivered_age,
                source: RwLock::new(None),
            }),
        }
    }

    /// Counts one answered HTTP request. `route` must be a route template (or `unmatched`).
    pub fn record_http(&self, method: &axum::http::Method, route: &str, status: u16, seconds: f64) {
        let method = bounded_method(method);
        self.inner
            .http_requests
            .get_or_create(&HttpLabels {
                method,
                route: route.to_owned(),
                status,
            })
            .inc();
        self.inner
            .http_duration
            .get_or_create(&RouteLabels {
                method,
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts one attempt to Plivo by its outcome label (a fixed set, chosen by the Plivo client).
    pub fn record_plivo_attempt(&self, outcome: &'static str) {
        self.inner
            .plivo_requests
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts one retry towards Plivo.
    pub fn record_plivo_retry(&self) {
        self.inner.plivo_retries.inc();
    }

    /// Replaces the messages-by-status gauges (statuses not listed disappear).
    pub fn set_messages_by_status(&self, counts: &[(&str, i64)]) {
        self.inner.messages.clear();
        for (status, count) in counts {
            self.inner
                .messages
                .get_or_create(&StatusLabels {
                    status: (*status).to_owned(),
                })
                .set(*count);
        }
    }

    /// Sets how many messages wait for a delivery worker.
    pub fn set_queue_depth(&self, depth: i64) {
        self.inner.queue_depth.set(depth);
    }

    /// Sets the age of the oldest undelivered message, in seconds (0 when there is none).
    pub fn set_oldest_undelivered_age_seconds(&self, seconds: f64) {
        self.inner.oldest_undelivered_age.set(seconds);
    }

    /// Installs (or replaces) what refreshes the store's gauges before each scrape.
    pub fn set_source(&self, source: Arc<dyn MetricsSource>) {
        if let Ok(mut slot) = self.inner.source.write() {
            *slot = Some(source);
        }
    }

    /// Refreshes the store's gauges from the source, if one is installed.
    pub async fn refresh(&self) {
        let source = self.inner.source.read().ok().and_then(|s| s.clone());
        if let Some(source) = source {
            source.refresh(self).await;
        }
    }

    /// The registry in text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry) {
            tracing::error!(error = %e, "could not encode metrics");
        }
        out
    }
}

/// Methods outside the usual set share one label value, so a client cannot add series at will.
fn bounded_method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_series_with_bounded_labels() {
        let m = Metrics::new();
        m.record_http(&axum::http::Method::GET, "/health", 200, 0.01);
        m.record_http(
            &axum::http::Method::from_bytes(b"BREW").unwrap(),
            "unmatched",
            405,
            0.01,
        );
        m.record_plivo_attempt("timeout");
        m.record_plivo_retry();
        m.set_messages_by_status(&[("queued", 3), ("failed", 1)]);
        m.set_messages_by_status(&[("queued", 2)]);
        m.set_queue_depth(7);
        m.set_oldest_undelivered_age_seconds(12.5);
        let text = m.render();
        for line in [
            "mms_gateway_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1",
            "mms_gateway_http_requests_total{method=\"other\",route=\"unmatched\",status=\"405\"} 1",
            "mms_gateway_plivo_requests_total{outcome=\"timeout\"} 1",
            "mms_gateway_plivo_retries_total 1",
            "mms_gateway_messages{status=\"queued\"} 2",
            "mms_gateway_queue_depth 7",
            "mms_gateway_oldest_undelivered_message_age_seconds 12.5",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("status=\"failed\""), "{text}");
        assert!(text.contains("mms_gateway_http_request_duration_seconds_bucket"));
        assert!(text.ends_with("# EOF\n"));
    }
}
