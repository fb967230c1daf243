//! Inputs that used to be taken at face value: made-up list cursors, an unencoded `+` in
//! `recipientNumber`, and a `callbackUrl` whose name resolves only to loopback.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn made_up_cursors_are_400() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(plivo_accepted()))
        .mount(&app.plivo)
        .await;
    assert_eq!(app.post_json(&valid_body()).await.status(), 200);
    // The list has a page; its cursor round-trips.
    let first = json_body(app.fetch("/messages?limit=1").await).await;
    assert_eq!(first["messages"].as_array().map(Vec::len), Some(1));

    for made_up in [
        URL_SAFE_NO_PAD.encode("1700000000000000:anything"),
        URL_SAFE_NO_PAD.encode("9223372036854775807:x"),
        URL_SAFE_NO_PAD.encode("-1:0"),
        "abc".to_owned(),
    ] {
        let r = app.fetch(&format!("/messages?cursor={made_up}")).await;
        let body = assert_error(r, 400, "invalid_field").await;
        assert_eq!(body["field"], "cursor", "{made_up}");
    }
}

#[tokio::test]
async fn a_cursor_given_out_still_pages() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(plivo_accepted()))
        .mount(&app.plivo)
        .await;
    for _ in 0..3 {
        assert_eq!(app.post_json(&valid_body()).await.status(), 200);
    }
    let first = json_body(app.fetch("/messages?limit=2").await).await;
    let cursor = first["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = json_body(
        app.fetch(&format!("/messages?limit=2&cursor={cursor}"))
            .await,
    )
    .await;
    assert_eq!(second["messages"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["nextCursor"], Value::Null);
}

#[tokio::test]
async fn an_unencoded_plus_in_recipient_number_is_400_with_a_hint() {
    let app = spawn_app().await;
    let body = assert_error(
        app.fetch("/messages?recipientNumber=+14155551234").await,
        400,
        "invalid_phone_number",
    )
    .await;
    assert_eq!(body["field"], "recipientNumber");
    assert!(
        body["error"].as_str().unwrap_or("").contains("%2B"),
        "{body}"
    );

    let body = assert_error(
        app.fetch("/messages?recipientNumber=not-a-number").await,
        400,
        "invalid_phone_number",
    )
    .await;
    assert_eq!(body["field"], "recipientNumber");

    let listed = app.fetch("/messages?recipientNumber=%2B14155551234").await;
    assert_eq!(listed.status(), 200);
}

#[tokio::test]
async fn a_callback_url_whose_name_resolves_only_to_loopback_fails_fast_and_says_so() {
    let app = spawn_app_with(&[("WEBHOOK_SIGNING_SECRET", "a-test-signing-secret")]).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(plivo_accepted()))
        .mount(&app.plivo)
        .await;
    let mut body = valid_body();
    body["callbackUrl"] = json!("http://localhost:9/events");
    let sent = app.post_json(&body).await;
    assert_eq!(sent.status(), 200);
    let id = json_body(sent).await["id"].as_str().expect("id").to_owned();

    // Every event is tried once and given up at once (no 24 hours of retries).
    for _ in 0..40 {
        let record = json_body(app.fetch(&format!("/messages/{id}")).await).await;
        let attempts = record["callbackAttempts"].as_array().map_or(0, Vec::len);
        if attempts >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Long enough for a retry (at most 1 s after a failure) to have shown.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let record = json_body(app.fetch(&format!("/messages/{id}")).await).await;
    let attempts = record["callbackAttempts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(attempts.len() >= 3, "{record}");
    for attempt in &attempts {
        assert_eq!(attempt["attempt"], 1, "{record}");
        let error = attempt["error"].as_str().unwrap_or("");
        assert!(error.contains("non-public"), "{record}");
    }
}
