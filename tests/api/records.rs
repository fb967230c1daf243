//! The message store seen from outside: records, status callbacks, idempotency keys, restarts.
//! Every scenario runs on SQLite and on PostgreSQL (when `TEST_DATABASE_URL` is set).

use std::time::Duration;

use mms_gateway::plivo::signature::{new_nonce, v2_signature, v3_signature};
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

pub(crate) const PUBLIC: &str = "https://mms.example.com";
const CALLBACK_URL: &str = "https://mms.example.com/webhooks/plivo/status";
pub(crate) const UUID: &str = "db3ce55a-7f1d-11e1-8ea7-1231380bc196";

const OVERRIDES: &[(&str, &str)] = &[("PUBLIC_BASE_URL", PUBLIC)];

apps_on_both_backends!(
    a_sent_message_is_recorded_queued_with_its_history: super::OVERRIDES,
    a_refused_message_is_recorded_failed_with_plivos_text: super::OVERRIDES,
    signed_callbacks_move_the_message_forward_never_back: super::OVERRIDES,
    out_of_order_callbacks_end_in_the_final_state: super::OVERRIDES,
    forged_callbacks_are_refused_and_change_nothing: super::OVERRIDES,
    v2_signed_callbacks_pass_once_per_nonce: super::OVERRIDES,
    a_callback_for_an_unknown_message_is_acknowledged: super::OVERRIDES,
    an_idempotent_replay_returns_the_stored_answer_and_sends_nothing: super::OVERRIDES,
    a_reused_key_with_another_body_is_422: super::OVERRIDES,
    concurrent_requests_with_one_key_call_plivo_once: super::OVERRIDES,
    messages_are_listed_newest_first_with_a_cursor: super::OVERRIDES,
    records_and_keys_survive_a_restart: super::OVERRIDES,
);

pub(crate) async fn plivo_accepts(plivo: &MockServer, uuid: &str) {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "message": "message(s) queued", "message_uuid": [uuid], "api_id": "a1"
        })))
        .mount(plivo)
        .await;
}

async fn send(app: &TestApp) -> String {
    let response = app.post_json(&valid_body()).await;
    assert_eq!(response.status(), 200);
    json_body(response).await["id"].as_str().unwrap().to_owned()
}

async fn message(app: &TestApp, id: &str) -> Value {
    let response = app.fetch(&format!("/messages/{id}")).await;
    assert_eq!(response.status(), 200);
    json_body(response).await
}

fn statuses(record: &Value) -> Vec<String> {
    record["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn params(status: &str, error_code: &str) -> Vec<(String, String)> {
    [
        ("MessageUUID", UUID),
        ("Status", status),
        ("ErrorCode", error_code),
        ("From", "14155550100"),
        ("To", "14155551234"),
        ("Type", "mms"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

fn form(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// Posts a callback signed with V3 (and Ma-V3) using `token`.
pub(crate) async fn callback(
    app: &TestApp,
    params: &[(String, String)],
    token: &str,
) -> reqwest::Response {
    let nonce = new_nonce();
    let signature = v3_signature("POST", CALLBACK_URL, params, &nonce, token);
    app.client
        .post(format!("{}/webhooks/plivo/status", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-plivo-signature-v3", format!("bogus,{signature}"))
        .header("x-plivo-signature-ma-v3", signature)
        .header("x-plivo-signature-v3-nonce", nonce)
        .body(form(params))
        .send()
        .await
        .unwrap()
}

async fn a_sent_message_is_recorded_queued_with_its_history(app: TestApp) {
    Mock::given(method("POST"))
        .and(body_partial_json(
            json!({"url": CALLBACK_URL, "method": "POST"}),
        ))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "message": "message(s) queued", "message_uuid": [UUID], "api_id": "a1"
        })))
        .expect(1)
        .mount(&app.plivo)
        .await;
    let id = send(&app).await;

    let record = message(&app, &id).await;

    assert_eq!(record["id"], id);
    assert_eq!(record["status"], "queued");
    assert_eq!(record["messageUuid"], UUID);
    assert_eq!(record["recipientNumber"], "+14155551234");
    assert_eq!(record["senderNumber"], SENDER);
    assert_eq!(record["messageText"], "Hello from the tests");
    assert_eq!(record["mediaUrls"], json!(["https://example.com/cat.gif"]));
    assert_eq!(statuses(&record), ["accepted", "sending", "queued"]);
    assert!(record["createdAt"].is_string() && record["updatedAt"].is_string());
}

async fn a_refused_message_is_recorded_failed_with_plivos_text(app: TestApp) {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"api_id": "x", "error": "'14155551234' is not a valid phone number."}),
        ))
        .mount(&app.plivo)
        .await;
    let response = app.post_json(&valid_body()).await;
    assert_eq!(response.status(), 422);

    let page = json_body(app.fetch("/messages?status=failed").await).await;
    let record = &page["messages"][0];

    assert_eq!(record["status"], "failed");
    assert_eq!(record["errorCode"], "provider_rejected");
    assert_eq!(
        record["errorMessage"],
        "'14155551234' is not a valid phone number."
    );
    assert_eq!(statuses(record), ["accepted", "sending", "failed"]);
}

async fn signed_callbacks_move_the_message_forward_never_back(app: TestApp) {
    plivo_accepts(&app.plivo, UUID).await;
    let id = send(&app).await;

    for status in ["queued", "sent", "delivered", "sent", "delivered"] {
        let code = if status == "delivered" { "000" } else { "" };
        let response = callback(&app, &params(status, code), AUTH_TOKEN).await;
        assert_eq!(response.status(), 200, "{status}");
    }

    let record = message(&app, &id).await;
    assert_eq!(record["status"], "delivered");
    assert_eq!(
        statuses(&record),
        ["accepted", "sending", "queued", "sent", "delivered"]
    );
}

async fn out_of_order_callbacks_end_in_the_final_state(app: TestApp) {
    plivo_accepts(&app.plivo, UUID).await;
    let id = send(&app).await;

    assert_eq!(
        callback(&app, &params("undelivered", "80"), AUTH_TOKEN)
            .await
            .status(),
        200
    );
    assert_eq!(
        callback(&app, &params("sent", ""), AUTH_TOKEN)
            .await
            .status(),
        200
    );

    let record = message(&app, &id).await;
    assert_eq!(record["status"], "undelivered");
    assert_eq!(record["errorCode"], "80");
}

async fn forged_callbacks_are_refused_and_change_nothing(app: TestApp) {
    plivo_accepts(&app.plivo, UUID).await;
    let id = send(&app).await;
    let url = format!("{}/webhooks/plivo/status", app.address);

    // Signed for "sent", but the body says "delivered".
    let nonce = new_nonce();
    let signature = v3_signature(
        "POST",
        CALLBACK_URL,
        &params("sent", ""),
        &nonce,
        AUTH_TOKEN,
    );
    let tampered = app
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-plivo-signature-v3", signature)
        .header("x-plivo-signature-v3-nonce", nonce)
        .body(form(&params("delivered", "000")))
        .send()
        .await
        .unwrap();
    assert_error(tampered, 403, "invalid_signature").await;

    assert_error(
        callback(&app, &params("delivered", "000"), "not-the-token").await,
        403,
        "invalid_signature",
    )
    .await;

    let unsigned = app
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&params("delivered", "000")))
        .send()
        .await
        .unwrap();
    assert_error(unsigned, 403, "invalid_signature").await;

    // The empty ErrorCode is part of the signed string: dropping it breaks the signature.
    let nonce = new_nonce();
    let signature = v3_signature(
        "POST",
        CALLBACK_URL,
        &params("delivered", ""),
        &nonce,
        AUTH_TOKEN,
    );
    let without_empty = app
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-plivo-signature-v3", signature)
        .header("x-plivo-signature-v3-nonce", nonce)
        .body(form(&params("delivered", "")).replace("&ErrorCode=", ""))
        .send()
        .await
        .unwrap();
    assert_error(without_empty, 403, "invalid_signature").await;

    assert_eq!(message(&app, &id).await["status"], "queued");
}

async fn v2_signed_callbacks_pass_once_per_nonce(app: TestApp) {
    plivo_accepts(&app.plivo, UUID).await;
    let id = send(&app).await;
    let nonce = new_nonce();
    let signature = v2_signature(CALLBACK_URL, &nonce, AUTH_TOKEN);
    let post = |status: &'static str| {
        app.client
            .post(format!("{}/webhooks/plivo/status", app.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-plivo-signature-v2", signature.clone())
            .header("x-plivo-signature-v2-nonce", nonce.clone())
            .body(form(&params(status, "")))
            .send()
    };

    assert_eq!(post("sent").await.unwrap().status(), 200);
    assert_error(post("failed").await.unwrap(), 403, "invalid_signature").await;

    assert_eq!(message(&app, &id).await["status"], "sent");
}

async fn a_callback_for_an_unknown_message_is_acknowledged(app: TestApp) {
    let response = callback(&app, &params("delivered", "000"), AUTH_TOKEN).await;
    assert_eq!(response.status(), 200);
}

async fn an_idempotent_replay_returns_the_stored_answer_and_sends_nothing(app: TestApp) {
    plivo_accepts(&app.plivo, UUID).await;
    let first = app.post_with_key("order-1", &valid_body()).await;
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();

    let again = app.post_with_key("order-1", &valid_body()).await;

    assert_eq!(again.status(), 200);
    assert_eq!(again.text().await.unwrap(), first);
    assert_eq!(app.plivo_calls().await, 1);
    let page = json_body(app.fetch("/messages").await).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
}

async fn a_reused_key_with_another_body_is_422(app: TestApp) {
    plivo_accepts(&app.plivo, UUID).await;
    assert_eq!(
        app.post_with_key("order-2", &valid_body()).await.status(),
        200
    );
    let mut other = valid_body();
    other["messageText"] = json!("something else");

    assert_error(
        app.post_with_key("order-2", &other).await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(app.plivo_calls().await, 1);
}

async fn concurrent_requests_with_one_key_call_plivo_once(app: TestApp) {
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(
                    json!({"message": "message(s) queued", "message_uuid": [UUID], "api_id": "a1"}),
                )
                .set_delay(Duration::from_millis(300)),
        )
        .mount(&app.plivo)
        .await;
    let body = valid_body();

    let (a, b) = tokio::join!(
        app.post_with_key("order-3", &body),
        app.post_with_key("order-3", &body)
    );

    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    assert_eq!(app.plivo_calls().await, 1);
}

async fn messages_are_listed_newest_first_with_a_cursor(app: TestApp) {
    plivo_accepts(&app.plivo, UUID).await;
    let first = send(&app).await;
    let second = send(&app).await;

    let page = json_body(
        app.fetch("/messages?limit=1&recipientNumber=%2B14155551234")
            .await,
    )
    .await;
    assert_eq!(page["messages"][0]["id"], second);
    let cursor = page["nextCursor"].as_str().unwrap();
    let page = json_body(
        app.fetch(&format!("/messages?limit=1&cursor={cursor}"))
            .await,
    )
    .await;
    assert_eq!(page["messages"][0]["id"], first);

    assert_error(
        app.fetch("/messages?limit=1000").await,
        400,
        "invalid_field",
    )
    .await;
    assert_error(
        app.fetch("/messages?cursor=garbage").await,
        400,
        "invalid_field",
    )
    .await;
    assert_error(app.fetch("/messages/no-such-id").await, 404, "not_found").await;
}

async fn records_and_keys_survive_a_restart(app: TestApp) {
    plivo_accepts(&app.plivo, UUID).await;
    let first = app.post_with_key("order-4", &valid_body()).await;
    let first_body = first.text().await.unwrap();
    let id = serde_json::from_str::<Value>(&first_body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (db, plivo) = app.stop().await;

    let app = spawn_app_on(db, plivo, OVERRIDES).await;

    assert_eq!(message(&app, &id).await["status"], "queued");
    let again = app.post_with_key("order-4", &valid_body()).await;
    assert_eq!(again.text().await.unwrap(), first_body);
    assert_eq!(app.plivo_calls().await, 1);
}

#[tokio::test]
async fn ready_is_503_when_the_database_is_gone() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let TestDb::Postgres(fresh) = db.clone() else {
        unreachable!("asked for PostgreSQL");
    };
    let app = spawn_app_on(db, MockServer::start().await, OVERRIDES).await;
    assert_eq!(app.fetch("/ready").await.status(), 200);

    fresh.drop_database().await;

    let response = app.fetch("/ready").await;
    assert_eq!(response.status(), 503);
    assert_eq!(json_body(response).await["status"], "DOWN");
    assert_eq!(app.fetch("/health").await.status(), 200);
}

#[tokio::test]
async fn a_success_after_a_timed_out_attempt_is_flagged_as_a_possible_duplicate() {
    let app = spawn_app_with(&[("PLIVO_TIMEOUT_MS", "200")]).await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(json!({"message": "message(s) queued", "message_uuid": ["late"], "api_id": "a"}))
                .set_delay(Duration::from_secs(2)),
        )
        .up_to_n_times(1)
        .mount(&app.plivo)
        .await;
    plivo_accepts(&app.plivo, UUID).await;

    let id = send(&app).await;

    let record = message(&app, &id).await;
    assert_eq!(record["status"], "queued");
    assert_eq!(record["messageUuid"], UUID);
    assert_eq!(record["outcomeUnknown"], true);
}
