//! The send service seen from outside: a synchronous send runs to its end when the caller goes
//! away, and idempotency keys belong to one caller. Each scenario runs on SQLite and on
//! PostgreSQL (when `TEST_DATABASE_URL` is set).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::auth::{KEY_A, KEY_B};
use crate::helpers::*;

const UUID: &str = "db3ce55a-7f1d-11e1-8ea7-1231380bc196";

const KEYS: &str = "key-a-0123456789abcdef,key-b-0123456789abcdef";

apps_on_both_backends!(
    a_sync_send_whose_caller_goes_away_still_ends_queued_and_replays: &[("API_KEYS", super::KEYS), ("PLIVO_TIMEOUT_MS", "3000")],
    one_idempotency_key_names_two_requests_for_two_callers: &[("API_KEYS", super::KEYS), ("PLIVO_TIMEOUT_MS", "3000")],
);

async fn plivo_accepts_after(plivo: &MockServer, delay: Duration) {
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(
                    json!({"message": "message(s) queued", "message_uuid": [UUID], "api_id": "a1"}),
                )
                .set_delay(delay),
        )
        .mount(plivo)
        .await;
}

/// `POST /send-mms` as `api_key` with an `Idempotency-Key`, giving up after `timeout`.
async fn post(
    app: &TestApp,
    api_key: &str,
    idempotency_key: &str,
    body: &Value,
    timeout: Duration,
) -> reqwest::Result<reqwest::Response> {
    app.client
        .post(format!("{}/send-mms", app.address))
        .bearer_auth(api_key)
        .header("idempotency-key", idempotency_key)
        .timeout(timeout)
        .json(body)
        .send()
        .await
}

/// The messages `GET /messages` lists, as `api_key`.
async fn messages(app: &TestApp, api_key: &str) -> Vec<Value> {
    let page = json_body(app.get("/messages", Some(api_key)).await).await;
    page["messages"].as_array().cloned().unwrap_or_default()
}

async fn a_sync_send_whose_caller_goes_away_still_ends_queued_and_replays(app: TestApp) {
    plivo_accepts_after(&app.plivo, Duration::from_millis(800)).await;

    // The client hangs up while Plivo is still answering.
    let gone = post(
        &app,
        KEY_A,
        "order-gone",
        &valid_body(),
        Duration::from_millis(200),
    )
    .await;
    assert!(gone.is_err_and(|e| e.is_timeout()));

    // The send runs to its end anyway: the record gets Plivo's UUID and `queued`.
    let deadline = Instant::now() + Duration::from_secs(10);
    let record = loop {
        let listed = messages(&app, KEY_A).await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        if listed[0]["status"] == "queued" || Instant::now() > deadline {
            break listed[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(record["status"], "queued", "{record}");
    assert_eq!(record["messageUuid"], UUID);
    assert_eq!(record["outcomeUnknown"], false);

    // The same key replays that outcome and sends nothing more.
    let again = post(
        &app,
        KEY_A,
        "order-gone",
        &valid_body(),
        Duration::from_secs(10),
    )
    .await
    .expect("the app answers");
    assert_eq!(again.status(), 200);
    let again = json_body(again).await;
    assert_eq!(again["id"], record["id"]);
    assert_eq!(again["messageUuid"], UUID);
    assert_eq!(app.plivo_calls().await, 1);
}

async fn one_idempotency_key_names_two_requests_for_two_callers(app: TestApp) {
    plivo_accepts_after(&app.plivo, Duration::ZERO).await;
    let ten = Duration::from_secs(10);
    let sent = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 200);
        json_body(r).await
    };
    let body_a = valid_body();
    let mut body_b = valid_body();
    body_b["messageText"] = json!("caller B's own message");

    // With A's key and another body, B is not told the key is in use: B's request is sent.
    let a = sent(post(&app, KEY_A, "order-1", &body_a, ten).await.unwrap()).await;
    let b = sent(post(&app, KEY_B, "order-1", &body_b, ten).await.unwrap()).await;
    assert_ne!(b["id"], a["id"]);

    // With A's key and A's body, B does not get A's answer: B's own message is sent.
    let a2 = sent(post(&app, KEY_A, "order-2", &body_a, ten).await.unwrap()).await;
    let b2 = sent(post(&app, KEY_B, "order-2", &body_a, ten).await.unwrap()).await;
    assert_ne!(b2["id"], a2["id"]);
    assert_eq!(app.plivo_calls().await, 4);

    // Each caller's repeat replays its own answer; a caller's own key with another body is 422.
    assert_eq!(
        sent(post(&app, KEY_A, "order-1", &body_a, ten).await.unwrap()).await,
        a
    );
    assert_eq!(
        sent(post(&app, KEY_B, "order-1", &body_b, ten).await.unwrap()).await,
        b
    );
    assert_eq!(
        sent(post(&app, KEY_B, "order-2", &body_a, ten).await.unwrap()).await,
        b2
    );
    assert_error(
        post(&app, KEY_A, "order-1", &body_b, ten).await.unwrap(),
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(app.plivo_calls().await, 4);
    let ids = |list: Vec<Value>| list.iter().map(|m| m["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(messages(&app, KEY_A).await).len(), 4);
}
