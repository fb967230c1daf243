//! The sender pool (sticky senders, `senderNumber`, Powerpack), per-sender pacing on one
//! instance (sync 503, the backlog waiting in the outbox), resends, and redelivery of exhausted
//! caller events; each on SQLite and PostgreSQL. Pacing across two instances is in
//! `tests/pacing.rs`.

use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const POOL: [&str; 3] = ["+14155550101", "+14155550102", "+14155550103"];
const POOL_VAR: &str = "+14155550101, +14155550102,+14155550103";
const SECRET: &str = "a-test-signing-secret";

on_both_backends!(
    each_recipient_keeps_its_sender_across_a_restart,
    a_named_sender_is_used_when_in_the_pool_and_refused_otherwise,
    a_powerpack_is_sent_instead_of_src,
    a_sync_send_without_a_sender_slot_answers_503,
    the_backlog_waits_in_the_outbox_for_its_sender,
    a_retry_takes_a_new_sender_slot,
    errors_after_recording_name_the_message,
    a_resend_creates_a_linked_message,
    exhausted_caller_events_are_redelivered_in_order,
);

/// The contract's sticky choice, computed independently: SHA-256 of the recipient's E.164 text,
/// first 8 bytes big-endian, modulo the pool size.
fn pinned(recipient: &str) -> &'static str {
    let digest = Sha256::digest(recipient.as_bytes());
    let n = u64::from_be_bytes(digest[..8].try_into().unwrap());
    POOL[(n % POOL.len() as u64) as usize]
}

async fn plivo_accepts(plivo: &MockServer) {
    Mock::given(method("POST"))
        .respond_with(OneUuidPerDestination)
        .mount(plivo)
        .await;
}

/// Plivo's 202 with one message UUID per destination (`dst` joined with `<`), as Plivo answers.
struct OneUuidPerDestination;

impl wiremock::Respond for OneUuidPerDestination {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let count = body["dst"].as_str().map_or(1, |d| d.split('<').count());
        let uuids: Vec<String> = (0..count)
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect();
        let mut answer = plivo_accepted();
        answer["message_uuid"] = json!(uuids);
        ResponseTemplate::new(202).set_body_json(answer)
    }
}

fn to(recipient: &str) -> Value {
    let mut body = valid_body();
    body["recipientNumber"] = json!(recipient);
    body
}

/// Every Plivo request's body, in arrival order.
async fn plivo_bodies(plivo: &MockServer) -> Vec<Value> {
    plivo
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("JSON body"))
        .collect()
}

/// `(dst, src)` of every Plivo request, in arrival order.
async fn dst_and_src(plivo: &MockServer) -> Vec<(String, String)> {
    plivo_bodies(plivo)
        .await
        .iter()
        .map(|b| {
            (
                b["dst"].as_str().unwrap().to_owned(),
                b["src"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn record(app: &TestApp, id: &str) -> Value {
    let response = app.fetch(&format!("/messages/{id}")).await;
    assert_eq!(response.status(), 200);
    json_body(response).await
}

fn recipients() -> Vec<String> {
    (0..8).map(|i| format!("+1415555{:04}", 1200 + i)).collect()
}

async fn each_recipient_keeps_its_sender_across_a_restart(db: TestDb) {
    let overrides = [("PLIVO_SENDER_NUMBER", POOL_VAR)];
    let plivo = MockServer::start().await;
    plivo_accepts(&plivo).await;
    let app = spawn_app_on(db, plivo, &overrides).await;
    let mut ids = Vec::new();
    for r in recipients() {
        let response = app.post_json(&to(&r)).await;
        assert_eq!(response.status(), 200);
        ids.push(json_body(response).await["id"].as_str().unwrap().to_owned());
    }
    let first = dst_and_src(&app.plivo).await;
    assert_eq!(first.len(), 8);
    for (dst, src) in &first {
        assert_eq!(src, pinned(dst), "{dst}");
    }
    let used: std::collections::HashSet<&str> = first.iter().map(|(_, s)| s.as_str()).collect();
    assert!(used.len() >= 2, "the pool is used: {used:?}");
    for (id, (_, src)) in ids.iter().zip(&first) {
        assert_eq!(record(&app, id).await["senderNumber"], src.as_str());
    }

    // Restarted on the same database: the same recipients get the same senders.
    let (db, plivo) = app.stop().await;
    plivo.reset().await;
    plivo_accepts(&plivo).await;
    let app = spawn_app_on(db, plivo, &overrides).await;
    for r in recipients() {
        assert_eq!(app.post_json(&to(&r)).await.status(), 200);
    }
    let again = dst_and_src(&app.plivo).await;
    assert_eq!(again, first);
}

async fn a_named_sender_is_used_when_in_the_pool_and_refused_otherwise(db: TestDb) {
    let plivo = MockServer::start().await;
    plivo_accepts(&plivo).await;
    let app = spawn_app_on(db, plivo, &[("PLIVO_SENDER_NUMBER", POOL_VAR)]).await;
    let recipient = "+14155551234";
    let other = POOL.iter().find(|n| **n != pinned(recipient)).unwrap();

    let mut body = to(recipient);
    body["senderNumber"] = json!(other);
    let response = app.post_json(&body).await;
    assert_eq!(response.status(), 200);
    let id = json_body(response).await["id"].as_str().unwrap().to_owned();
    assert_eq!(record(&app, &id).await["senderNumber"], *other);
    // Naming a sender does not re-pin the recipient.
    assert_eq!(app.post_json(&to(recipient)).await.status(), 200);
    let bodies = plivo_bodies(&app.plivo).await;
    assert_eq!(bodies[0]["src"], *other);
    assert_eq!(bodies[1]["src"], pinned(recipient));

    for bad in [json!("+14155550199"), json!("not a number"), json!(42)] {
        let mut body = to(recipient);
        body["senderNumber"] = bad.clone();
        let error = assert_error(app.post_json(&body).await, 400, "invalid_field").await;
        assert_eq!(error["field"], "senderNumber", "{bad}");
    }
    assert_eq!(app.plivo_calls().await, 2, "a refused sender sends nothing");

    // A bulk send with a named sender goes out from it alone.
    let mut bulk = valid_body();
    bulk.as_object_mut().unwrap().remove("recipientNumber");
    bulk["recipientNumbers"] = json!(recipients());
    bulk["senderNumber"] = json!(POOL[2]);
    let response = app.post_json(&bulk).await;
    assert_eq!(response.status(), 202);
    let batch = json_body(response).await;
    let last = batch["messages"][7]["id"].as_str().unwrap().to_owned();
    wait_for(&app, &last, |r| r["status"] == "queued").await;
    let bodies = plivo_bodies(&app.plivo).await;
    assert!(
        bodies[2..].iter().all(|b| b["src"] == POOL[2]),
        "{bodies:?}"
    );
}

async fn a_powerpack_is_sent_instead_of_src(db: TestDb) {
    let plivo = MockServer::start().await;
    plivo_accepts(&plivo).await;
    let app = spawn_app_on(
        db,
        plivo,
        &[
            ("PLIVO_SENDER_NUMBER", ""),
            (
                "PLIVO_POWERPACK_UUID",
                "d35f2e82-d387-427f-8594-6fa07613c43a",
            ),
        ],
    )
    .await;
    let response = app.post_json(&valid_body()).await;
    assert_eq!(response.status(), 200);
    let id = json_body(response).await["id"].as_str().unwrap().to_owned();
    let mut bodies = plivo_bodies(&app.plivo).await;
    // message_expiry is the message's remaining time: checked for its range, then left out.
    for body in &mut bodies {
        let expiry = body
            .as_object_mut()
            .and_then(|o| o.remove("message_expiry"))
            .and_then(|v| v.as_u64());
        assert!(expiry.is_some_and(|s| (5..=10_799).contains(&s)), "{body}");
    }
    assert_eq!(
        bodies,
        [json!({
            "log": "true",
            "powerpack_uuid": "d35f2e82-d387-427f-8594-6fa07613c43a",
            "dst": "+14155551234",
            "type": "mms",
            "text": "Hello from the tests",
            "media_urls": ["https://example.com/cat.gif"],
        })]
    );
    // Plivo picks the number: the record says so until Plivo reports it.
    let r = record(&app, &id).await;
    assert_eq!(r["senderNumber"], Value::Null, "{r}");
    // Without a pool, no senderNumber can be named.
    let mut body = valid_body();
    body["senderNumber"] = json!("+14155550100");
    assert_error(app.post_json(&body).await, 400, "invalid_field").await;
}

async fn a_sync_send_without_a_sender_slot_answers_503(db: TestDb) {
    let plivo = MockServer::start().await;
    plivo_accepts(&plivo).await;
    // One slot every 100 s; a synchronous send waits at most 0.2 s for one.
    let app = spawn_app_on(
        db,
        plivo,
        &[("PLIVO_SENDER_MPS", "0.01"), ("SYNC_SLOT_WAIT_MS", "200")],
    )
    .await;
    assert_eq!(app.post_json(&valid_body()).await.status(), 200);
    let response = app.post_json(&to("+14155559876")).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((90..=101).contains(&retry_after), "{retry_after}");
    assert_error(response, 503, "provider_unavailable").await;
    assert_eq!(app.plivo_calls().await, 1, "nothing sent without a slot");
    let page = json_body(app.fetch("/messages").await).await;
    assert_eq!(
        page["messages"].as_array().unwrap().len(),
        1,
        "nothing recorded"
    );
}

async fn the_backlog_waits_in_the_outbox_for_its_sender(db: TestDb) {
    let plivo = MockServer::start().await;
    plivo_accepts(&plivo).await;
    let app = spawn_app_on(db, plivo, &[("PLIVO_SENDER_MPS", "0.01")]).await;
    let mut ids = Vec::new();
    for r in ["+14155551201", "+14155551202", "+14155551203"] {
        let response = post_async(&app, &to(r)).await;
        assert_eq!(response.status(), 202);
        ids.push(json_body(response).await["id"].as_str().unwrap().to_owned());
    }
    wait_for(&app, &ids[0], |r| r["status"] == "queued").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    // The others wait, visible, as `accepted`: Plivo got only the first.
    assert_eq!(app.plivo_calls().await, 1);
    for id in &ids[1..] {
        assert_eq!(record(&app, id).await["status"], "accepted");
    }
    let metrics = app.fetch("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("mms_gateway_messages_waiting_for_sender 2"),
        "{metrics}"
    );
}

async fn a_retry_takes_a_new_sender_slot(db: TestDb) {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": "busy"})))
        .up_to_n_times(1)
        .mount(&plivo)
        .await;
    plivo_accepts(&plivo).await;
    // One slot every 2 s. The first attempt fails (503); its retry is due 10 ms later but must
    // wait for the sender's next slot, 2 s after the first.
    let app = spawn_app_on(db, plivo, &[("PLIVO_SENDER_MPS", "0.5")]).await;
    let id = json_body(post_async(&app, &valid_body()).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = wait_for(&app, &id, |r| r["status"] == "queued").await;
    let times: Vec<chrono::DateTime<chrono::Utc>> = done["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(app.plivo_calls().await, 2);
    // accepted, sending, the failed attempt's retry note, queued: the note and the success are a
    // slot apart.
    let gap = (times[times.len() - 1] - times[times.len() - 2]).num_milliseconds();
    assert!(
        gap >= 1800,
        "the retry went {gap} ms after the failure: {done}"
    );
}

async fn a_resend_creates_a_linked_message(db: TestDb) {
    let plivo = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"api_id": "x", "error": "no route"})),
        )
        .up_to_n_times(1)
        .mount(&plivo)
        .await;
    plivo_accepts(&plivo).await;
    let app = spawn_app_on(db, plivo, &[("PLIVO_SENDER_NUMBER", POOL_VAR)]).await;
    let recipient = "+14155551234";
    let mut body = to(recipient);
    body["senderNumber"] = json!(POOL[2]);
    assert_eq!(app.post_json(&body).await.status(), 422);
    let page = json_body(app.fetch("/messages?status=failed").await).await;
    let old = page["messages"][0]["id"].as_str().unwrap().to_owned();

    let resend = |id: String| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/messages/{id}/resend", app.address))
                .send()
                .await
                .unwrap()
        }
    };
    let response = resend(old.clone()).await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let answer = json_body(response).await;
    let new = answer["id"].as_str().unwrap().to_owned();
    assert_eq!(
        answer,
        json!({"id": new, "status": "accepted", "resendOf": old})
    );
    assert_eq!(location, format!("/messages/{new}"));
    let copy = wait_for(&app, &new, |r| r["status"] == "queued").await;
    assert_eq!(copy["resendOf"], old.as_str());
    assert_eq!(copy["recipientNumber"], recipient);
    assert_eq!(
        copy["senderNumber"], POOL[2],
        "the same sender, not the pinned one"
    );
    assert_eq!(copy["messageText"], "Hello from the tests");
    assert_eq!(copy["batchId"], Value::Null);
    let bodies = plivo_bodies(&app.plivo).await;
    assert_eq!(bodies[1], bodies[0], "Plivo gets the same request again");

    // Again and again: each a new linked message.
    let second = json_body(resend(old.clone()).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let original = record(&app, &old).await;
    assert_eq!(original["resentAs"], json!([new, second]));
    assert_eq!(original["status"], "failed");

    // Only failed or undelivered messages; unknown ids are 404.
    assert_error(resend(new.clone()).await, 409, "not_resendable").await;
    assert_error(resend("no-such-id".to_owned()).await, 404, "not_found").await;
}

fn exhausted(r: &Value) -> usize {
    r["callbackAttempts"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|x| x["exhausted"] == true).count())
}

async fn exhausted_caller_events_are_redelivered_in_order(db: TestDb) {
    let plivo = MockServer::start().await;
    plivo_accepts(&plivo).await;
    let app = spawn_app_on(
        db,
        plivo,
        &[
            ("WEBHOOK_SIGNING_SECRET", SECRET),
            ("CALLBACK_ALLOW_PRIVATE", "true"),
            ("CALLBACK_RETRY_WINDOW_SECONDS", "1"),
        ],
    )
    .await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&receiver)
        .await;
    let mut body = valid_body();
    body["callbackUrl"] = json!(format!("{}/events", receiver.uri()));
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let id = json_body(post_async(&app, &body).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // accepted, sending, queued: each gives up within its 1 s window.
    let gave_up = wait_for(&app, &id, |r| exhausted(r) == 3).await;
    assert!(gave_up["callbackAttempts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["responseStatus"] == 500));

    let redeliver = |body: Value| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/callbacks/redeliver", app.address))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    assert_error(
        redeliver(json!({"since": "last week"})).await,
        400,
        "invalid_field",
    )
    .await;
    assert_error(redeliver(json!({})).await, 400, "missing_field").await;
    let none = redeliver(json!({"since": before.to_rfc3339(), "messageId": "other"})).await;
    assert_eq!(none.status(), 202);
    assert_eq!(json_body(none).await, json!({"requeued": 0}));
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let none = redeliver(json!({"since": later.to_rfc3339()})).await;
    assert_eq!(json_body(none).await, json!({"requeued": 0}));

    receiver.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let response = redeliver(json!({"since": before.to_rfc3339(), "messageId": id})).await;
    assert_eq!(response.status(), 202);
    assert_eq!(json_body(response).await, json!({"requeued": 3}));
    let done = wait_for(&app, &id, |r| {
        r["callbackAttempts"]
            .as_array()
            .is_some_and(|a| a.iter().filter(|x| x["responseStatus"] == 204).count() == 3)
    })
    .await;
    assert_eq!(exhausted(&done), 0);
    let statuses: Vec<String> = receiver
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["status"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(statuses, ["accepted", "sending", "queued"]);
    // Nothing is exhausted any more.
    let again = redeliver(json!({"since": before.to_rfc3339()})).await;
    assert_eq!(json_body(again).await, json!({"requeued": 0}));
}

async fn errors_after_recording_name_the_message(db: TestDb) {
    let plivo = MockServer::start().await;
    // First Plivo is down (503 every time), then it answers too late (after PLIVO_TIMEOUT_MS).
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": "down"})))
        .up_to_n_times(3)
        .mount(&plivo)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(plivo_accepted())
                .set_delay(Duration::from_millis(800)),
        )
        .mount(&plivo)
        .await;
    let app = spawn_app_on(db, plivo, &[("PLIVO_MAX_RETRIES", "2")]).await;

    let response = app.post_json(&valid_body()).await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let error = assert_error(response, 503, "provider_unavailable").await;
    let id = error["id"]
        .as_str()
        .expect("the error names the message")
        .to_owned();
    assert_eq!(location, format!("/messages/{id}"));
    assert_eq!(
        error["details"]["outcomeUnknown"],
        Value::Null,
        "nothing reached Plivo"
    );
    let failed = record(&app, &id).await;
    assert_eq!(failed["status"], "failed");
    let retries: Vec<&str> = failed["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["detail"].as_str())
        .filter(|d| d.contains("; retrying"))
        .collect();
    assert_eq!(retries.len(), 2, "each retry is an event: {failed}");
    assert!(retries[0].starts_with("attempt 1 failed: "), "{retries:?}");
    assert!(retries[1].starts_with("attempt 2 failed: "), "{retries:?}");

    // Every attempt timed out: Plivo may have it. The answer, and its replay, say so and name it.
    let key = "named-timeout-1";
    let response = app.post_with_key(key, &valid_body()).await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let error = assert_error(response, 504, "provider_timeout").await;
    let id = error["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/messages/{id}"));
    assert_eq!(error["details"]["outcomeUnknown"], true);
    let replay = app.post_with_key(key, &valid_body()).await;
    assert_eq!(replay.headers()["location"].to_str().unwrap(), location);
    assert_eq!(json_body(replay).await, error);
    assert_eq!(record(&app, &id).await["outcomeUnknown"], true);

    // An error before anything is recorded names nothing.
    let mut bad = valid_body();
    bad["recipientNumber"] = json!("+1415");
    let response = app.post_json(&bad).await;
    assert!(response.headers().get("location").is_none());
    let error = assert_error(response, 400, "invalid_phone_number").await;
    assert_eq!(error["id"], Value::Null);
}
