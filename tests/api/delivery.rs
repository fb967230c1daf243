//! Asynchronous delivery (`Prefer: respond-async`), bulk sends, expiry, and status events for callers.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use wiremock::matchers::{body_partial_json, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const SECRET: &str = "a-test-signing-secret";

fn status_is(status: &'static str) -> impl Fn(&Value) -> bool {
    move |r| r["status"] == status
}

fn accepted(uuids: &[&str], invalid: Option<&[&str]>) -> ResponseTemplate {
    let mut body = json!({"api_id": "a1", "message": "message(s) queued", "message_uuid": uuids});
    if let Some(invalid) = invalid {
        body["invalid_number"] = json!(invalid);
    }
    ResponseTemplate::new(202).set_body_json(body)
}

#[tokio::test]
async fn respond_async_answers_202_then_a_worker_sends_it() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path_message())
        .and(body_partial_json(
            json!({"src": SENDER, "dst": "+14155551234", "type": "mms",
                                      "media_urls": ["https://example.com/cat.gif"]}),
        ))
        .respond_with(accepted(&["u-async"], None))
        .expect(1)
        .mount(&app.plivo)
        .await;

    let response = post_async(&app, &valid_body()).await;

    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["preference-applied"], "respond-async");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body = json_body(response).await;
    assert_eq!(body["status"], "accepted");
    let id = body["id"].as_str().unwrap();
    assert_eq!(location, format!("/messages/{id}"));
    let record = wait_for(&app, id, status_is("queued")).await;
    assert_eq!(record["messageUuid"], "u-async");
    assert_eq!(record["outcomeUnknown"], false);
}

fn path_message() -> wiremock::matchers::PathExactMatcher {
    wiremock::matchers::path(MESSAGE_PATH)
}

#[tokio::test]
async fn transient_failures_are_retried_by_the_worker() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
        .up_to_n_times(2)
        .mount(&app.plivo)
        .await;
    Mock::given(method("POST"))
        .respond_with(accepted(&["u-retried"], None))
        .mount(&app.plivo)
        .await;

    let id = json_body(post_async(&app, &valid_body()).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let record = wait_for(&app, &id, status_is("queued")).await;
    assert_eq!(app.plivo_calls().await, 3);
    let retries = record["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail"].as_str().is_some_and(|d| d.contains("retrying")))
        .count();
    assert_eq!(retries, 2, "{record}");
}

#[tokio::test]
async fn a_refusal_fails_the_message_without_retrying() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": "'14155551234' is not a valid phone number."})),
        )
        .expect(1)
        .mount(&app.plivo)
        .await;

    let id = json_body(post_async(&app, &valid_body()).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let record = wait_for(&app, &id, status_is("failed")).await;
    assert_eq!(record["errorCode"], "provider_rejected");
}

#[tokio::test]
async fn messages_that_cannot_be_sent_in_time_expire() {
    let app = spawn_app_with(&[("MESSAGE_TTL_SECONDS", "1")]).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("down"))
        .mount(&app.plivo)
        .await;

    let id = json_body(post_async(&app, &valid_body()).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let record = wait_for(&app, &id, status_is("failed")).await;
    assert_eq!(record["errorCode"], "expired");
}

#[tokio::test]
async fn bulk_sends_go_together_and_uuids_map_back_in_order() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(body_partial_json(
            json!({"dst": "+14155550101<+14155550001<+16135550123"}),
        ))
        .respond_with(accepted(&["u1", "u2"], Some(&["14155550001"])))
        .expect(1)
        .mount(&app.plivo)
        .await;
    let body = json!({
        "recipientNumbers": ["+14155550101", "+14155550001", "+16135550123"],
        "messageText": "to everyone",
        "mediaUrl": "https://example.com/cat.gif",
    });

    let response = app.post_json(&body).await;

    assert_eq!(response.status(), 202);
    let body = json_body(response).await;
    assert!(body["batchId"].is_string());
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[1]["recipientNumber"], "+14155550001");
    let first = wait_for(
        &app,
        messages[0]["id"].as_str().unwrap(),
        status_is("queued"),
    )
    .await;
    let invalid = wait_for(
        &app,
        messages[1]["id"].as_str().unwrap(),
        status_is("failed"),
    )
    .await;
    let third = wait_for(
        &app,
        messages[2]["id"].as_str().unwrap(),
        status_is("queued"),
    )
    .await;
    assert_eq!(first["messageUuid"], "u1");
    assert_eq!(invalid["errorCode"], "invalid_number");
    assert_eq!(third["messageUuid"], "u2");
}

#[tokio::test]
async fn bulk_requests_with_a_bad_number_are_refused_whole() {
    let app = spawn_app().await;
    let body = json!({"recipientNumbers": ["+14155550101", "+1415"], "mediaUrl": "https://example.com/a.gif"});
    let error = assert_error(app.post_json(&body).await, 400, "invalid_phone_number").await;
    assert_eq!(error["details"]["invalidNumbers"], json!(["+1415"]));
    assert_eq!(app.plivo_calls().await, 0);
}

fn verify(header: &str, body: &[u8]) -> bool {
    let Some((t, v1)) = header.split_once(",v1=") else {
        return false;
    };
    let t = t.trim_start_matches("t=");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}

#[tokio::test]
async fn callers_get_signed_status_events_in_order_with_retries() {
    let app = spawn_app_with(&[
        ("WEBHOOK_SIGNING_SECRET", SECRET),
        ("CALLBACK_ALLOW_PRIVATE", "true"),
    ])
    .await;
    Mock::given(method("POST"))
        .respond_with(accepted(&["u-cb"], None))
        .mount(&app.plivo)
        .await;
    let receiver = MockServer::start().await;
    // The first event is refused once: it must be retried, and the later ones wait for it.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let mut body = valid_body();
    body["callbackUrl"] = json!(format!("{}/events", receiver.uri()));

    let id = json_body(post_async(&app, &body).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let record = wait_for(&app, &id, |r| {
        r["callbackAttempts"]
            .as_array()
            .is_some_and(|a| a.iter().filter(|x| x["responseStatus"] == 204).count() == 3)
    })
    .await;
    let requests = receiver.received_requests().await.unwrap();
    let events: Vec<Value> = requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let statuses: Vec<&str> = events
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["accepted", "accepted", "sending", "queued"]);
    for (request, event) in requests.iter().zip(&events) {
        let signature = request
            .headers
            .get("x-mms-gateway-signature")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            verify(signature, &request.body),
            "bad signature {signature}"
        );
        assert_eq!(event["id"], id);
        assert_eq!(event["recipientNumber"], "+14155551234");
        assert!(event["eventId"].is_string() && event["occurredAt"].is_string());
    }
    assert_eq!(events[3]["messageUuid"], "u-cb");
    let attempts = record["callbackAttempts"].as_array().unwrap();
    assert_eq!(attempts[0]["responseStatus"], 500);
    assert_eq!(attempts[0]["attempt"], 1);
    assert_eq!(attempts[1]["attempt"], 2);
}

#[tokio::test]
async fn a_callback_url_needs_a_signing_secret() {
    let app = spawn_app().await;
    let mut body = valid_body();
    body["callbackUrl"] = json!("https://example.com/events");
    let error = assert_error(app.post_json(&body).await, 400, "invalid_field").await;
    assert_eq!(error["field"], "callbackUrl");
}

#[tokio::test]
async fn a_callback_url_on_a_private_address_is_refused() {
    let app = spawn_app_with(&[("WEBHOOK_SIGNING_SECRET", SECRET)]).await;
    for url in [
        "http://127.0.0.1:9/events",
        "http://10.0.0.1/events",
        "http://[::1]/events",
        "http://169.254.169.254/latest",
    ] {
        let mut body = valid_body();
        body["callbackUrl"] = json!(url);
        let error = assert_error(app.post_json(&body).await, 400, "invalid_field").await;
        assert_eq!(error["field"], "callbackUrl", "{url}");
    }
    assert_eq!(app.plivo_calls().await, 0);
}
