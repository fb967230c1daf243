//! Prometheus metrics: one registry per app (kept in `AppState`, never process-global), so several
//! apps in one process do not mix their numbers.
//!
//! Label values are bounded: route templates (never raw paths), a fixed set of methods, statuses,
//! outcomes and message states. No phone number, key or URL ever becomes a label.

mod retention;

pub use retention::RetentionMetrics;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use axum::extract::MatchedPath;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
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
    route: RouteLabel,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: RouteLabel,
}

/// The route a request matched, as a label value: the router's own template (shared, so counting
/// a request copies nothing) or a fixed name such as `unmatched`.
#[derive(Clone, Debug)]
pub enum RouteLabel {
    /// The template of the route that answered, e.g. `/messages/{id}`.
    Matched(MatchedPath),
    /// A name of our own: `unmatched` when no route matched.
    Named(&'static str),
}

impl RouteLabel {
    /// The label for a request that matched `route`, or `unmatched`.
    pub fn of(route: Option<&MatchedPath>) -> Self {
        route.map_or(Self::Named("unmatched"), |r| Self::Matched(r.clone()))
    }

    fn as_str(&self) -> &str {
        match self {
            Self::Matched(path) => path.as_str(),
            Self::Named(name) => name,
        }
    }
}

impl PartialEq for RouteLabel {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RouteLabel {}

impl std::hash::Hash for RouteLabel {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for RouteLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

// --- inbound messages and opt-outs ---
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OptOutLabels {
    action: &'static str,
    source: &'static str,
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
    // --- reconciliation ---
    reconcile: ReconcileMetrics,
    source: RwLock<Option<Arc<dyn MetricsSource>>>,
    // --- retention ---
    retention: RetentionMetrics,
    // --- per-sender pacing ---
    waiting_for_sender: Gauge,
    // --- inbound messages and opt-outs ---
    inbound_messages: Counter,
    opt_out_changes: Family<OptOutLabels, Counter>,
    sends_refused_opted_out: Counter,
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
        // --- retention ---
        let retention = RetentionMetrics::register(&mut registry);
        // --- per-sender pacing ---
        let waiting_for_sender = Gauge::default();
        registry.register(
            "messages_waiting_for_sender",
            "Messages in the outbox waiting for their sender's slot (PLIVO_SENDER_MPS)",
            waiting_for_sender.clone(),
        );
        // --- reconciliation ---
        let reconcile = ReconcileMetrics::register(&mut registry);
        // --- inbound messages and opt-outs ---
        let inbound_messages = Counter::default();
        registry.register(
            "inbound_messages",
            "Inbound messages received and stored (repeats of one message count once)",
            inbound_messages.clone(),
        );
        let opt_out_changes = Family::<OptOutLabels, Counter>::default();
        registry.register(
            "opt_out_changes",
            "Changes to the opt-out list, by action (optout, optin) and source (inbound, plivo_error_200, api)",
            opt_out_changes.clone(),
        );
        let sends_refused_opted_out = Counter::default();
        registry.register(
            "sends_refused_opted_out",
            "Recipients refused (or left out of a bulk send) because they opted out",
            sends_refused_opted_out.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                reconcile,
                inbound_messages,
                opt_out_changes,
                sends_refused_opted_out,
                registry,
                http_requests,
                http_duration,
                plivo_requests,
                plivo_retries,
                messages,
                queue_depth,
                oldest_undelivered_age,
                source: RwLock::new(None),
                retention,
                waiting_for_sender,
            }),
        }
    }

    /// Counts one answered HTTP request. `route` must be a route template (or `unmatched`).
    pub fn record_http(
        &self,
        method: &axum::http::Method,
        route: RouteLabel,
        status: u16,
        seconds: f64,
    ) {
        let method = bounded_method(method);
        self.inner
            .http_duration
            .get_or_create(&RouteLabels {
                method,
                route: route.clone(),
            })
            .observe(seconds);
        self.inner
            .http_requests
            .get_or_create(&HttpLabels {
                method,
                route,
                status,
            })
            .inc();
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

    // --- per-sender pacing ---
    /// Sets how many messages wait in the outbox for their sender's slot.
    pub fn set_waiting_for_sender(&self, count: i64) {
        self.inner.waiting_for_sender.set(count);
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

    // --- retention ---
    /// The retention purge's series.
    pub fn retention(&self) -> &RetentionMetrics {
        &self.inner.retention
    }

    // --- inbound messages and opt-outs ---

    /// Counts one inbound message stored.
    pub fn record_inbound_message(&self) {
        self.inner.inbound_messages.inc();
    }

    /// Counts one change to the opt-out list.
    pub fn record_opt_out_change(
        &self,
        action: crate::store::OptOutAction,
        source: crate::store::OptOutSource,
    ) {
        self.inner
            .opt_out_changes
            .get_or_create(&OptOutLabels {
                action: action.as_str(),
                source: source.as_str(),
            })
            .inc();
    }

    /// Counts one recipient refused because it opted out.
    pub fn record_send_refused_opted_out(&self) {
        self.inner.sends_refused_opted_out.inc();
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

// --- reconciliation ---

/// The reconciler's series: checks with Plivo by outcome, messages waiting for a receipt, early
/// callbacks held.
struct ReconcileMetrics {
    reconciliations: Family<OutcomeLabels, Counter>,
    awaiting_receipt: Gauge,
    early_callbacks: Gauge,
}

impl ReconcileMetrics {
    fn register(registry: &mut Registry) -> Self {
        let reconciliations = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "reconciliations",
            "Unknown outcomes checked with Plivo's records, by outcome (found, not_found, ambiguous)",
            reconciliations.clone(),
        );
        let awaiting_receipt = Gauge::default();
        registry.register(
            "messages_awaiting_receipt",
            "Messages queued or sent at Plivo whose receipt has not come yet",
            awaiting_receipt.clone(),
        );
        let early_callbacks = Gauge::default();
        registry.register(
            "early_callbacks_held",
            "Status callbacks held until their message takes the UUID",
            early_callbacks.clone(),
        );
        Self {
            reconciliations,
            awaiting_receipt,
            early_callbacks,
        }
    }
}

impl Metrics {
    /// Counts one reconciliation; `outcome` is `found`, `not_found` or `ambiguous`.
    pub fn record_reconciliation(&self, outcome: &'static str) {
        self.inner
            .reconcile
            .reconciliations
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Sets the messages waiting for a receipt and the early callbacks held.
    pub fn set_reconcile_gauges(&self, awaiting_receipt: i64, early_callbacks: i64) {
        self.inner.reconcile.awaiting_receipt.set(awaiting_receipt);
        self.inner.reconcile.early_callbacks.set(early_callbacks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_series_with_bounded_labels() {
        let m = Metrics::new();
        m.record_http(
            &axum::http::Method::GET,
            RouteLabel::Named("/health"),
            200,
            0.01,
        );
        m.record_http(
            &axum::http::Method::from_bytes(b"BREW").unwrap(),
            RouteLabel::of(None),
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
