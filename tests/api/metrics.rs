//! `GET /metrics` (docs/api.md): Prometheus text with bounded labels.

use std::sync::Arc;

use mms_gateway::metrics::{Metrics, MetricsSource};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

async fn scrape(app: &TestApp) -> String {
    let r = app.get("/metrics", None).await;
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    r.text().await.unwrap()
}

#[tokio::test]
async fn requests_latency_plivo_calls_and_retries_are_counted() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(serde_json::json!({"error": "boom"})),
        )
        .up_to_n_times(1)
        .mount(&app.plivo)
        .await;
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(ResponseTemplate::new(202).set_body_json(plivo_accepted()))
        .mount(&app.plivo)
        .await;

    assert_eq!(app.post_json(&valid_body()).await.status(), 200);
    app.get("/no/such/route/+14155551234", None).await;
    let text = scrape(&app).await;

    for line in [
        "mms_gateway_http_requests_total{method=\"POST\",route=\"/send-mms\",status=\"200\"} 1",
        "mms_gateway_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
        "mms_gateway_plivo_requests_total{outcome=\"server_error\"} 1",
        "mms_gateway_plivo_requests_total{outcome=\"accepted\"} 1",
        "mms_gateway_plivo_retries_total 1",
        "mms_gateway_http_request_duration_seconds_count{method=\"POST\",route=\"/send-mms\"} 1",
        "mms_gateway_queue_depth 0",
        "mms_gateway_oldest_undelivered_message_age_seconds 0",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(text.contains("mms_gateway_http_request_duration_seconds_bucket{le="));
    // Raw paths and phone numbers never become labels.
    assert!(!text.contains("14155551234"), "{text}");
    assert!(!text.contains("/no/such"), "{text}");
}

struct FakeStore;

#[async_trait::async_trait]
impl MetricsSource for FakeStore {
    async fn refresh(&self, metrics: &Metrics) {
        metrics.set_messages_by_status(&[("queued", 4), ("delivered", 10)]);
        metrics.set_queue_depth(3);
        metrics.set_oldest_undelivered_age_seconds(42.5);
    }
}

#[tokio::test]
async fn the_store_gauges_come_from_the_installed_source() {
    let app = spawn_app().await;
    app.metrics.set_source(Arc::new(FakeStore));
    let text = scrape(&app).await;
    for line in [
        "mms_gateway_messages{status=\"queued\"} 4",
        "mms_gateway_messages{status=\"delivered\"} 10",
        "mms_gateway_queue_depth 3",
        "mms_gateway_oldest_undelivered_message_age_seconds 42.5",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[tokio::test]
async fn two_apps_in_one_process_keep_their_own_numbers() {
    let a = spawn_app().await;
    let b = spawn_app().await;
    a.get("/health", None).await;
    a.get("/health", None).await;
    let text = scrape(&b).await;
    assert!(!text.contains("route=\"/health\""), "{text}");
}
