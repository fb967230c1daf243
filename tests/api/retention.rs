//! Retention from outside: `DELETE /messages/{id}`, and the background purge and redaction with a
//! retention of a fraction of a day. Every scenario runs on SQLite and on PostgreSQL (when
//! `TEST_DATABASE_URL` is set).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;
use crate::records::{callback, params, plivo_accepts, PUBLIC, UUID};

apps_on_both_backends!(
    delete_erases_an_ended_message_and_the_key_that_created_it: super::KEEP,
    the_purge_deletes_ended_messages_in_the_background: super::PURGE_FAST,
    redaction_runs_in_the_background_before_the_purge: super::REDACT_FAST,
);

/// The default retention (30 days).
const KEEP: &[(&str, &str)] = &[("PUBLIC_BASE_URL", PUBLIC)];
/// 0.00002 days is 1.7 s.
const PURGE_FAST: &[(&str, &str)] = &[
    ("PUBLIC_BASE_URL", PUBLIC),
    ("RETENTION_DAYS", "0.00002"),
    ("PURGE_INTERVAL_SECONDS", "1"),
];
/// Redacted after 0.9 s, kept for a day.
const REDACT_FAST: &[(&str, &str)] = &[
    ("PUBLIC_BASE_URL", PUBLIC),
    ("RETENTION_DAYS", "1"),
    ("REDACT_AFTER_DAYS", "0.00001"),
    ("PURGE_INTERVAL_SECONDS", "1"),
];

async fn delete(app: &TestApp, id: &str) -> reqwest::Response {
    app.client
        .delete(format!("{}/messages/{id}", app.address))
        .send()
        .await
        .expect("request reaches the app")
}

async fn deliver(app: &TestApp) {
    let response = callback(app, &params("delivered", ""), AUTH_TOKEN).await;
    assert_eq!(response.status(), 200);
}

/// GETs `/messages/{id}` until `done` holds for its status and body, for at most 15 s.
async fn wait_for(app: &TestApp, id: &str, done: impl Fn(u16, &Value) -> bool) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = app.fetch(&format!("/messages/{id}")).await;
        let status = response.status().as_u16();
        let body = json_body(response).await;
        if done(status, &body) || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn delete_erases_an_ended_message_and_the_key_that_created_it(app: TestApp) {
    plivo_accepts(&app.plivo, UUID).await;
    let sent = app.post_with_key("key-1", &valid_body()).await;
    assert_eq!(sent.status(), 200);
    let id = json_body(sent).await["id"].as_str().unwrap().to_owned();

    // Queued with Plivo: still under way.
    assert_error(delete(&app, &id).await, 409, "not_final").await;
    assert_eq!(app.fetch(&format!("/messages/{id}")).await.status(), 200);

    deliver(&app).await;
    let deleted = delete(&app, &id).await;
    assert_eq!(deleted.status(), 204);
    assert!(deleted.bytes().await.expect("body").is_empty());
    assert_error(
        app.fetch(&format!("/messages/{id}")).await,
        404,
        "not_found",
    )
    .await;
    assert_error(delete(&app, &id).await, 404, "not_found").await;
    assert_error(delete(&app, "no-such-message").await, 404, "not_found").await;
    let listed = json_body(app.fetch("/messages").await).await;
    assert_eq!(listed["messages"].as_array().map(Vec::len), Some(0));

    // A later callback for it is answered 200 and ignored.
    let late = callback(&app, &params("failed", "30"), AUTH_TOKEN).await;
    assert_eq!(late.status(), 200);
    assert_error(
        app.fetch(&format!("/messages/{id}")).await,
        404,
        "not_found",
    )
    .await;

    // Its idempotency record went with it: the same key and body send again.
    let calls = app.plivo_calls().await;
    let again = app.post_with_key("key-1", &valid_body()).await;
    assert_eq!(again.status(), 200);
    let new_id = json_body(again).await["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, id);
    assert_eq!(app.plivo_calls().await, calls + 1);
}

async fn the_purge_deletes_ended_messages_in_the_background(app: TestApp) {
    plivo_accepts(&app.plivo, UUID).await;
    let sent = app.post_json(&valid_body()).await;
    assert_eq!(sent.status(), 200);
    let id = json_body(sent).await["id"].as_str().unwrap().to_owned();
    deliver(&app).await;

    let (status, body) = wait_for(&app, &id, |status, _| status == 404).await;
    assert_eq!(status, 404, "not purged: {body}");
    assert_eq!(body["code"], "not_found");

    let metrics = app.fetch("/metrics").await.text().await.expect("metrics");
    let purged = metrics
        .lines()
        .find(|l| l.starts_with("mms_gateway_purged_rows_total{table=\"messages\"}"))
        .unwrap_or_else(|| panic!("no purge counter:\n{metrics}"));
    let purged: f64 = purged.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(purged >= 1.0, "{purged}");
    let last = metrics
        .lines()
        .find(|l| l.starts_with("mms_gateway_last_purge_timestamp_seconds "))
        .unwrap_or_else(|| panic!("no last purge gauge:\n{metrics}"));
    let last: f64 = last.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(last > 1.7e9, "{last}");
}

async fn redaction_runs_in_the_background_before_the_purge(app: TestApp) {
    plivo_accepts(&app.plivo, UUID).await;
    let sent = app.post_with_key("key-r", &valid_body()).await;
    assert_eq!(sent.status(), 200);
    let id = json_body(sent).await["id"].as_str().unwrap().to_owned();
    let before = json_body(app.fetch(&format!("/messages/{id}")).await).await;
    assert!(before.get("redacted").is_none(), "{before}");
    deliver(&app).await;

    let (status, after) = wait_for(&app, &id, |_, body| body["redacted"] == true).await;
    assert_eq!(status, 200);
    assert_eq!(after["redacted"], true, "not redacted: {after}");
    assert_eq!(after["recipientNumber"], "+*******1234");
    assert_eq!(after["senderNumber"], SENDER);
    assert_eq!(after["messageText"], Value::Null);
    assert_eq!(after["mediaUrls"], serde_json::json!([]));
    assert_eq!(after["status"], "delivered");
    assert_eq!(after["messageUuid"], UUID);
    assert_eq!(after["createdAt"], before["createdAt"]);
    for event in after["events"].as_array().unwrap() {
        assert_eq!(event["detail"], Value::Null, "{event}");
    }
    // The stored answer (which holds the full number) is gone: the key sends again.
    let calls = app.plivo_calls().await;
    let again = app.post_with_key("key-r", &valid_body()).await;
    assert_eq!(again.status(), 200);
    assert_eq!(app.plivo_calls().await, calls + 1);
}
