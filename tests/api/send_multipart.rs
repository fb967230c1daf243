//! Multipart `POST /send-mms`: form fields plus files, uploaded first and sent as `media_ids`.

use std::time::{Duration, Instant};

use reqwest::multipart::Form;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;
use crate::media_upload::{file, mount_plivo_media, parts_of, GIF, MEDIA_PATH, PNG};

// What is recorded (messages, their uploads, idempotency keys) on both backends.
apps_on_both_backends!(
    files_with_media_urls_and_ids_are_uploaded_then_sent_as_media_ids: &[],
    an_async_send_uploads_before_its_202: &[],
    an_idempotency_key_compares_fields_and_file_bytes_not_boundaries: &[],
    a_failed_upload_answers_as_a_send_and_sends_nothing: &[],
);

async fn mount_plivo_messages(app: &TestApp) {
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(ResponseTemplate::new(202).set_body_json(plivo_accepted()))
        .mount(&app.plivo)
        .await;
}

async fn post_form(app: &TestApp, form: Form, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/send-mms", app.address))
        .multipart(form);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.expect("request reaches the app")
}

/// The Plivo requests to `path_`, in order.
async fn requests_to(app: &TestApp, path_: &str) -> Vec<wiremock::Request> {
    app.plivo
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == path_)
        .collect()
}

fn message_bodies(requests: &[wiremock::Request]) -> Vec<Value> {
    requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("a JSON send"))
        .collect()
}

async fn files_with_media_urls_and_ids_are_uploaded_then_sent_as_media_ids(app: TestApp) {
    mount_plivo_media(&app).await;
    mount_plivo_messages(&app).await;
    let form = Form::new()
        .text("recipientNumber", "+14155551234")
        .text("messageText", "Your receipt")
        .part("file", file("receipt.png", "image/png", PNG))
        .text("mediaUrls", "https://example.com/a.png")
        .text("mediaUrls[]", "https://example.com/b.png")
        .text("mediaIds", "given-1")
        .part("file", file("logo.gif", "image/gif", GIF));

    let response = post_form(&app, form, &[]).await;

    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let id = json_body(response).await["id"].as_str().unwrap().to_owned();
    let uploads = requests_to(&app, MEDIA_PATH).await;
    assert_eq!(uploads.len(), 1);
    let names: Vec<_> = parts_of(&uploads[0])
        .into_iter()
        .map(|p| (p.name, p.file_name.unwrap(), p.content_type.unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            (
                "file".to_owned(),
                "receipt.png".to_owned(),
                "image/png".to_owned()
            ),
            (
                "file".to_owned(),
                "logo.gif".to_owned(),
                "image/gif".to_owned()
            ),
        ]
    );
    let sends = message_bodies(&requests_to(&app, MESSAGE_PATH).await);
    assert_eq!(sends.len(), 1);
    assert_eq!(
        sends[0]["media_ids"],
        json!(["media-1", "media-2", "given-1"])
    );
    assert_eq!(
        sends[0]["media_urls"],
        json!(["https://example.com/a.png", "https://example.com/b.png"])
    );
    assert_eq!(sends[0]["text"], "Your receipt");
    assert_eq!(sends[0]["dst"], "+14155551234");

    let record = json_body(app.fetch(&format!("/messages/{id}")).await).await;
    assert_eq!(record["mediaIds"], json!(["media-1", "media-2", "given-1"]));
    assert_eq!(
        record["uploads"],
        json!([
            {"mediaId": "media-1", "contentType": "image/png", "size": PNG.len(), "fileName": "receipt.png"},
            {"mediaId": "media-2", "contentType": "image/gif", "size": GIF.len(), "fileName": "logo.gif"},
        ])
    );
}

async fn an_async_send_uploads_before_its_202(app: TestApp) {
    mount_plivo_media(&app).await;
    mount_plivo_messages(&app).await;
    let form = Form::new()
        .text("recipientNumber", "+14155551234")
        .part("file", file("a.png", "image/png", PNG));

    let response = post_form(&app, form, &[("prefer", "respond-async")]).await;

    assert_eq!(response.status(), 202);
    assert_eq!(
        requests_to(&app, MEDIA_PATH).await.len(),
        1,
        "uploaded before the 202"
    );
    let id = json_body(response).await["id"].as_str().unwrap().to_owned();
    let record = json_body(app.fetch(&format!("/messages/{id}")).await).await;
    assert_eq!(record["uploads"][0]["mediaId"], "media-1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while requests_to(&app, MESSAGE_PATH).await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the worker never sent the message"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sends = message_bodies(&requests_to(&app, MESSAGE_PATH).await);
    assert_eq!(sends[0]["media_ids"], json!(["media-1"]));
}

#[tokio::test]
async fn everything_is_checked_before_any_upload() {
    let app = spawn_app().await;
    mount_plivo_media(&app).await;
    mount_plivo_messages(&app).await;
    let png = || file("a.png", "image/png", PNG);

    let bad_number = Form::new()
        .text("recipientNumber", "+1415")
        .part("file", png());
    assert_error(
        post_form(&app, bad_number, &[]).await,
        400,
        "invalid_phone_number",
    )
    .await;

    let mut eleven = Form::new().text("recipientNumber", "+14155551234");
    for i in 0..6 {
        eleven = eleven
            .part("file", png())
            .text("mediaUrls", format!("https://example.com/{i}.png"));
    }
    assert_error(post_form(&app, eleven, &[]).await, 400, "too_many_media").await;

    let eleven_files = (0..11).fold(
        Form::new().text("recipientNumber", "+14155551234"),
        |f, _| f.part("file", png()),
    );
    assert_error(
        post_form(&app, eleven_files, &[]).await,
        400,
        "too_many_media",
    )
    .await;

    let file_mb = vec![b'a'; 1_900_000];
    let heavy = (0..3).fold(
        Form::new().text("recipientNumber", "+14155551234"),
        |f, i| f.part("file", file(&format!("{i}.txt"), "text/plain", &file_mb)),
    );
    assert_error(post_form(&app, heavy, &[]).await, 413, "media_too_large").await;

    let big = vec![b'a'; 2_000_001];
    let over = Form::new()
        .text("recipientNumber", "+14155551234")
        .part("file", file("big.txt", "text/plain", &big));
    assert_error(post_form(&app, over, &[]).await, 413, "media_too_large").await;

    let html = Form::new().text("recipientNumber", "+14155551234").part(
        "file",
        file("cat.png", "image/png", b"<html><body>x</body></html>"),
    );
    assert_error(
        post_form(&app, html, &[]).await,
        400,
        "media_type_unsupported",
    )
    .await;

    let unknown = Form::new()
        .text("recipientNumber", "+14155551234")
        .text("colour", "red")
        .part("file", png());
    let body = assert_error(post_form(&app, unknown, &[]).await, 400, "invalid_field").await;
    assert_eq!(body["field"], "colour");

    let nothing = Form::new().text("recipientNumber", "+14155551234");
    assert_error(post_form(&app, nothing, &[]).await, 400, "no_media").await;

    assert_eq!(
        requests_to(&app, MEDIA_PATH).await.len(),
        0,
        "nothing uploaded"
    );
    assert_eq!(
        requests_to(&app, MESSAGE_PATH).await.len(),
        0,
        "nothing sent"
    );
}

#[tokio::test]
async fn multipart_bodies_have_their_own_limit_and_others_keep_64_kib() {
    let app = spawn_app().await;
    mount_plivo_media(&app).await;
    mount_plivo_messages(&app).await;
    // A 1.5 MB file is far over 64 KiB, and fine as multipart.
    let file_mb = vec![b'a'; 1_500_000];
    let form = Form::new()
        .text("recipientNumber", "+14155551234")
        .part("file", file("a.txt", "text/plain", &file_mb));
    assert_eq!(post_form(&app, form, &[]).await.status(), 200);
    // A JSON body of 100 KB is still refused.
    let json = json!({"recipientNumber": "+14155551234", "mediaUrl": "https://e.com/a.png",
                      "messageText": "a".repeat(100_000)});
    assert_error(app.post_json(&json).await, 413, "payload_too_large").await;
}

async fn an_idempotency_key_compares_fields_and_file_bytes_not_boundaries(app: TestApp) {
    mount_plivo_media(&app).await;
    mount_plivo_messages(&app).await;
    let form = |bytes: &[u8]| {
        Form::new()
            .text("recipientNumber", "+14155551234")
            .part("file", file("a.png", "image/png", bytes))
    };
    let key = [("idempotency-key", "multipart-1")];

    let first = post_form(&app, form(PNG), &key).await;
    assert_eq!(first.status(), 200);
    let first = json_body(first).await;
    // reqwest picks a new boundary for every form: the raw bodies differ.
    let again = post_form(&app, form(PNG), &key).await;
    assert_eq!(again.status(), 200);
    assert_eq!(json_body(again).await, first);
    assert_eq!(requests_to(&app, MEDIA_PATH).await.len(), 1);
    assert_eq!(requests_to(&app, MESSAGE_PATH).await.len(), 1);

    let other = post_form(&app, form(GIF), &key).await;
    assert_error(other, 422, "idempotency_key_reused").await;
    assert_eq!(requests_to(&app, MEDIA_PATH).await.len(), 1);
}

async fn a_failed_upload_answers_as_a_send_and_sends_nothing(app: TestApp) {
    Mock::given(method("POST"))
        .and(path(MEDIA_PATH))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": "down"})))
        .mount(&app.plivo)
        .await;
    mount_plivo_messages(&app).await;
    let form = Form::new()
        .text("recipientNumber", "+14155551234")
        .part("file", file("a.png", "image/png", PNG));

    let response = post_form(&app, form, &[]).await;

    assert!(response.headers().contains_key("retry-after"));
    assert_error(response, 503, "provider_unavailable").await;
    assert_eq!(requests_to(&app, MEDIA_PATH).await.len(), 4);
    assert_eq!(requests_to(&app, MESSAGE_PATH).await.len(), 0);
}
