//! `serve --sandbox`: the whole service against the built-in simulator, callbacks included.

use std::time::Duration;

use mms_gateway::config::Config;
use mms_gateway::startup::Application;
use serde_json::{json, Value};

use crate::helpers::{assert_error, json_body, TestDb};

struct Sandbox {
    address: String,
    client: reqwest::Client,
    _db: TestDb,
}

async fn start_sandbox() -> Sandbox {
    let db = TestDb::sqlite();
    let vars = [
        ("PORT", "0"),
        ("HOST", "127.0.0.1"),
        ("DATABASE_URL", db.url()),
        ("PLIVO_RETRY_BASE_MS", "10"),
    ];
    let config = Config::from_lookup(true, |k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("sandbox settings");
    let app = Application::build(config).await.expect("sandbox builds");
    assert!(app.simulator().is_some());
    let address = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    Sandbox {
        address,
        client: reqwest::Client::new(),
        _db: db,
    }
}

impl Sandbox {
    async fn send(&self, to: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/send-mms", self.address))
            .json(&json!({"recipientNumber": to, "messageText": "hi", "mediaUrl": "https://example.com/a.gif"}))
            .send()
            .await
            .unwrap()
    }

    /// Polls the record until its status is final (the simulator's callbacks are 500 ms apart).
    async fn final_record(&self, id: &str) -> Value {
        for _ in 0..100 {
            let record = json_body(
                self.client
                    .get(format!("{}/messages/{id}", self.address))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            if matches!(
                record["status"].as_str(),
                Some("delivered" | "undelivered" | "failed")
            ) {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("message {id} never reached a final state");
    }
}

fn statuses(record: &Value) -> Vec<&str> {
    record["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_sandbox_message_lives_its_whole_life() {
    let sandbox = start_sandbox().await;
    let response = sandbox.send("+14155551234").await;
    assert_eq!(response.status(), 200);
    let id = json_body(response).await["id"].as_str().unwrap().to_owned();

    let record = sandbox.final_record(&id).await;

    assert_eq!(record["status"], "delivered");
    assert_eq!(
        statuses(&record),
        ["accepted", "sending", "queued", "sent", "delivered"]
    );
}

#[tokio::test]
async fn sandbox_magic_numbers_show_each_path() {
    let sandbox = start_sandbox().await;

    let refused = sandbox.send("+14155550001").await;
    assert_error(refused, 422, "provider_rejected").await;

    let retried = sandbox.send("+14155550002").await;
    assert_eq!(retried.status(), 200);

    let geo = sandbox.send("+14155550006").await;
    assert_error(geo, 502, "provider_auth_failed").await;

    let undelivered = json_body(sandbox.send("+14155550010").await).await;
    let record = sandbox
        .final_record(undelivered["id"].as_str().unwrap())
        .await;
    assert_eq!(record["status"], "undelivered");
    assert_eq!(record["errorCode"], "80");

    let out_of_order = json_body(sandbox.send("+14155550013").await).await;
    let record = sandbox
        .final_record(out_of_order["id"].as_str().unwrap())
        .await;
    assert_eq!(record["status"], "delivered");
    // The late "sent" never moved it back.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let record = sandbox
        .final_record(out_of_order["id"].as_str().unwrap())
        .await;
    assert_eq!(record["status"], "delivered");
}

/// Polls `path` until `done` holds for its JSON (bounded).
async fn poll(sandbox: &Sandbox, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let response = sandbox
            .client
            .get(format!("{}{path}", sandbox.address))
            .send()
            .await
            .unwrap();
        let body = json_body(response).await;
        if done(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never got there");
}

#[tokio::test]
async fn the_sandbox_shows_the_whole_stop_loop() {
    let sandbox = start_sandbox().await;
    let first = json_body(sandbox.send("+14155550020").await).await;
    let record = sandbox.final_record(first["id"].as_str().unwrap()).await;
    assert_eq!(record["status"], "delivered");

    // The recipient replies STOP (a signed inbound webhook from the simulator).
    let status = poll(&sandbox, "/opt-outs/%2B14155550020", |s| {
        s["optedOut"] == true
    })
    .await;
    assert_eq!(status["history"][0]["source"], "inbound");
    let inbound = poll(&sandbox, "/messages?direction=inbound", |p| {
        !p["messages"].as_array().unwrap().is_empty()
    })
    .await;
    assert_eq!(inbound["messages"][0]["from"], "+14155550020");
    assert_eq!(inbound["messages"][0]["text"], "STOP");

    // From then on the service refuses to send to it.
    assert_error(
        sandbox.send("+14155550020").await,
        409,
        "recipient_opted_out",
    )
    .await;

    // Taken off the list by hand, a send reaches the simulator, which fails it with error 200 as
    // Plivo would; the service puts the number back on the list.
    let removed = sandbox
        .client
        .delete(format!("{}/opt-outs/%2B14155550020", sandbox.address))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    let again = sandbox.send("+14155550020").await;
    assert_eq!(again.status(), 200);
    let again = json_body(again).await;
    let record = sandbox.final_record(again["id"].as_str().unwrap()).await;
    assert_eq!(record["status"], "failed");
    assert_eq!(record["errorCode"], "200");
    let status = poll(&sandbox, "/opt-outs/14155550020", |s| s["optedOut"] == true).await;
    let sources: Vec<_> = status["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["source"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sources, ["inbound", "api", "plivo_error_200"]);
}

#[tokio::test]
async fn the_sandbox_replies_hello_back_with_an_image() {
    let sandbox = start_sandbox().await;
    let sent = json_body(sandbox.send("+14155550021").await).await;
    sandbox.final_record(sent["id"].as_str().unwrap()).await;
    let page = poll(
        &sandbox,
        "/messages?direction=inbound&recipientNumber=%2B14155550021",
        |p| !p["messages"].as_array().unwrap().is_empty(),
    )
    .await;
    let reply = &page["messages"][0];
    assert_eq!(reply["text"], "Hello back");
    assert_eq!(reply["to"], "+14155550100");
    let media = reply["mediaUrls"].as_array().unwrap();
    assert_eq!(media.len(), 1);
    // The image is served by the simulator.
    let image = reqwest::get(media[0].as_str().unwrap()).await.unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/png");
    // It opts nobody out.
    let status = json_body(
        sandbox
            .client
            .get(format!("{}/opt-outs/%2B14155550021", sandbox.address))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status["optedOut"], false);
}
