//! `GET /stats`: the outbox at a glance as JSON (queue depth, age of the oldest undelivered
//! message, messages by status), for the console and for anyone who would rather not parse
//! Prometheus text. It reads the same store function as `GET /metrics` (`outbox_stats`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::api_error::ApiError;
use crate::http::openapi::ErrorResponse;
use crate::http::AppState;
use crate::store::{MessageStatus, OutboxStats};

/// The body of `GET /stats`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Messages waiting for a delivery worker (the outbox).
    pub queue_depth: i64,
    /// When the oldest message not yet handed to Plivo was accepted; `null` when there is none.
    pub oldest_undelivered_at: Option<String>,
    /// Its age in seconds (`0` when there is none), as `mms_gateway_oldest_undelivered_age_seconds`.
    pub oldest_undelivered_age_seconds: f64,
    /// How many stored messages are in each status; every status is listed, `0` included.
    pub by_status: BTreeMap<&'static str, i64>,
    /// When these numbers were read (RFC 3339).
    pub at: String,
}

impl Stats {
    /// The answer for `stats` read at `now`.
    pub fn new(stats: &OutboxStats, now: DateTime<Utc>) -> Self {
        let mut by_status: BTreeMap<&'static str, i64> = MessageStatus::ALL
            .iter()
            .map(|status| (status.as_str(), 0))
            .collect();
        for (status, count) in &stats.by_status {
            *by_status.entry(status.as_str()).or_default() += count;
        }
        Self {
            queue_depth: stats.depth,
            oldest_undelivered_at: stats
                .oldest_waiting
                .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            oldest_undelivered_age_seconds: stats.oldest_waiting_age_seconds(now),
            by_status,
            at: now.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }
}

/// Queue depth, age of the oldest undelivered message and messages by status.
#[utoipa::path(get, path = "/stats", tag = "operations",
    responses(
        (status = 200, description = "The outbox at a glance (the numbers of GET /metrics, as JSON)", body = Stats),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
        (status = 503, description = "The message store is not answering", body = ErrorResponse),
    ))]
pub async fn stats(State(state): State<AppState>) -> Result<Json<Stats>, ApiError> {
    let stats = state.delivery.store().outbox_stats().await?;
    Ok(Json(Stats::new(&stats, Utc::now())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_is_listed_and_the_age_counts_from_the_oldest() {
        let now = Utc::now();
        let stats = OutboxStats {
            depth: 3,
            oldest_waiting: Some(now - chrono::Duration::milliseconds(2500)),
            by_status: vec![(MessageStatus::Queued, 2), (MessageStatus::Failed, 5)],
        };
        let body = Stats::new(&stats, now);
        assert_eq!(body.queue_depth, 3);
        assert_eq!(body.oldest_undelivered_age_seconds, 2.5);
        assert_eq!(body.by_status.len(), 7);
        assert_eq!(body.by_status["queued"], 2);
        assert_eq!(body.by_status["failed"], 5);
        assert_eq!(body.by_status["delivered"], 0);
        assert!(body.oldest_undelivered_at.is_some());
    }

    #[test]
    fn an_empty_outbox_has_no_oldest_message_and_a_future_one_is_not_negative() {
        let now = Utc::now();
        let empty = Stats::new(&OutboxStats::default(), now);
        assert_eq!(empty.oldest_undelivered_at, None);
        assert_eq!(empty.oldest_undelivered_age_seconds, 0.0);
        assert!(empty.by_status.values().all(|n| *n == 0));
        let skewed = OutboxStats {
            oldest_waiting: Some(now + chrono::Duration::seconds(5)),
            ..OutboxStats::default()
        };
        assert_eq!(skewed.oldest_waiting_age_seconds(now), 0.0);
    }
}
