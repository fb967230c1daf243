//! `POST /send-mms`: what Plivo receives, the success answer, and bad input.

use base64::Engine;
use serde_json::json;
use wiremock::matchers::{any, body_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn a_valid_request_sends_exactly_this_to_plivo_and_answers_200() {
    let app = spawn_app().await;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{AUTH_ID}:{AUTH_TOKEN}"))
    );
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .and(header("authorization", auth.as_str()))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "src": SENDER,
            "dst": "+14155551234",
            "type": "mms",
            "text": "Hello from the tests",
            "media_urls": ["https://example.com/cat.gif"],
            // The time left to the deadline (MESSAGE_TTL_SECONDS, 3 h, capped at Plivo's 10,799 s)
            // and PLIVO_LOG.
            "message_expiry": 10_799,
            "log": "true",
        })))
        .respond_with(ResponseTemplate::new(202).set_body_json(plivo_accepted()))
        .expect(1)
        .mount(&app.plivo)
        .await;

    let response = app.post_json(&valid_body()).await;

    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert_eq!(body["message"], "MMS sent successfully.");
    assert_eq!(body["status"], "queued");
    assert_eq!(body["messageUuid"], "db3ce55a-7f1d-11e1-8ea7-1231380bc196");
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    assert_eq!(
        body["plivoResponse"],
        json!({"apiId": "db342550-7f1d-11e1-8ea7-1231380bc196", "message": "message(s) queued",
               "messageUuid": ["db3ce55a-7f1d-11e1-8ea7-1231380bc196"]})
    );
}

#[tokio::test]
async fn media_ids_lists_and_forms_reach_plivo() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .and(body_json(json!({
            "src": SENDER,
            "dst": "+16135550123",
            "type": "mms",
            "media_urls": ["https://example.com/a.png", "https://example.com/b.png"],
            "media_ids": ["801c2056-33ab-499c-80ef-58b574a462a2"],
            "message_expiry": 10_799,
            "log": "true",
        })))
        .respond_with(ResponseTemplate::new(202).set_body_json(plivo_accepted()))
        .expect(1)
        .mount(&app.plivo)
        .await;

    let response = app
        .post_raw(
            "application/x-www-form-urlencoded",
            "recipientNumber=%2B16135550123&mediaUrls=https%3A%2F%2Fexample.com%2Fa.png\
             &mediaUrls=https%3A%2F%2Fexample.com%2Fb.png&mediaIds=801c2056-33ab-499c-80ef-58b574a462a2",
        )
        .await;

    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn bad_bodies_get_json_errors_and_plivo_is_never_called() {
    let app = spawn_app().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(202).set_body_json(plivo_accepted()))
        .expect(0)
        .mount(&app.plivo)
        .await;
    let cases = [
        (json!({}), "missing_field"),
        (
            json!({"recipientNumber": "+1415", "mediaUrl": "https://e.com/a.gif"}),
            "invalid_phone_number",
        ),
        (
            json!({"recipientNumber": "+19999999999", "mediaUrl": "https://e.com/a.gif"}),
            "invalid_phone_number",
        ),
        (
            json!({"recipientNumber": "+447911123456", "mediaUrl": "https://e.com/a.gif"}),
            "unsupported_destination",
        ),
        (json!({"recipientNumber": "+14155551234"}), "no_media"),
        (
            json!({"recipientNumber": "+14155551234", "mediaUrl": "ftp://e.com/a.gif"}),
            "invalid_media_url",
        ),
        (
            json!({"recipientNumber": "+14155551234", "mediaUrls": vec!["https://e.com/a.gif"; 11]}),
            "too_many_media",
        ),
        (
            json!({"recipientNumber": "+14155551234", "mediaUrl": "https://e.com/a.gif", "messageText": "x".repeat(1601)}),
            "text_too_long",
        ),
        (
            json!({"recipientNumber": 14155551234u64, "mediaUrl": "https://e.com/a.gif"}),
            "invalid_field",
        ),
        (
            json!({"recipientNumber": "+14155551234", "mediaUrls": "https://e.com/a.gif"}),
            "invalid_field",
        ),
    ];
    for (body, code) in cases {
        assert_error(app.post_json(&body).await, 400, code).await;
    }
    assert_error(
        app.post_raw("application/json", "{not json").await,
        400,
        "invalid_json",
    )
    .await;
    assert_error(
        app.post_raw("application/json", "[]").await,
        400,
        "invalid_json",
    )
    .await;
    assert_error(
        app.post_raw("application/json", vec![0xff, 0xfe]).await,
        400,
        "invalid_json",
    )
    .await;
    assert_error(
        app.post_raw("text/plain", "hello").await,
        415,
        "unsupported_media_type",
    )
    .await;
    let big = format!(
        r#"{{"recipientNumber":"+14155551234","messageText":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    assert_error(
        app.post_raw("application/json", big).await,
        413,
        "payload_too_large",
    )
    .await;
    let field = assert_error(
        app.post_json(&json!({"recipientNumber": "+1415"})).await,
        400,
        "invalid_phone_number",
    )
    .await;
    assert_eq!(field["field"], "recipientNumber");
}

#[tokio::test]
async fn a_sync_send_with_less_than_five_seconds_left_is_not_sent_and_ends_expired() {
    // With a deadline of 3 s, no sync send can give Plivo a valid message_expiry (at least 5 s).
    let app = spawn_app_with(&[("MESSAGE_TTL_SECONDS", "3")]).await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(202).set_body_json(plivo_accepted()))
        .expect(0)
        .mount(&app.plivo)
        .await;

    let body = assert_error(
        app.post_json(&valid_body()).await,
        503,
        "provider_unavailable",
    )
    .await;

    let id = body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the answer names the message: {body}"));
    let record = json_body(app.fetch(&format!("/messages/{id}")).await).await;
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["errorCode"], "expired", "{record}");
    assert_eq!(app.plivo_calls().await, 0);
}
