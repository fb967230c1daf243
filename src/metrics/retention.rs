//! The purge's metrics: rows it removed (by table) and when it last finished a run.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    table: &'static str,
}

/// `mms_gateway_purged_rows_total{table}`, `mms_gateway_redacted_messages_total`,
/// `mms_gateway_last_purge_timestamp_seconds`.
#[derive(Debug, Clone, Default)]
pub struct RetentionMetrics {
    purged: Family<TableLabels, Counter>,
    redacted: Counter,
    last_purge: Gauge<f64, AtomicU64>,
}

impl RetentionMetrics {
    /// Creates the series in `registry` (prefixed `mms_gateway_` by it).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = RetentionMetrics::default();
        registry.register(
            "purged_rows",
            "Rows the retention purge deleted, by table (messages, idempotency_keys_and_nonces)",
            metrics.purged.clone(),
        );
        registry.register(
            "redacted_messages",
            "Messages whose text, media URLs and full recipient number were redacted",
            metrics.redacted.clone(),
        );
        registry.register(
            "last_purge_timestamp_seconds",
            "When the last retention purge run finished (unix seconds; 0 before the first)",
            metrics.last_purge.clone(),
        );
        metrics
    }

    /// Counts rows deleted from `table`.
    pub fn record_purged(&self, table: &'static str, rows: u64) {
        self.purged
            .get_or_create(&TableLabels { table })
            .inc_by(rows);
    }

    /// Counts redacted messages.
    pub fn record_redacted(&self, messages: u64) {
        self.redacted.inc_by(messages);
    }

    /// Sets when the last run finished.
    pub fn set_last_purge(&self, unix_seconds: f64) {
        self.last_purge.set(unix_seconds);
    }
}
