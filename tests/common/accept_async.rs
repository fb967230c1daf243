//! One asynchronous send, as the crash and multi-instance tests make many: `POST /send-mms` with
//! `Prefer: respond-async` and a given text, which must be accepted (`202`). Returns the message id.

use serde_json::{json, Value};

pub async fn accept_async(http: reqwest::Client, url: String, text: &str) -> String {
    let response = http
        .post(url)
        .header("prefer", "respond-async")
        .json(&json!({
            "recipientNumber": "+14155551234",
            "messageText": text,
            "mediaUrl": "https://example.com/cat.gif",
        }))
        .send()
        .await
        .expect("the service answers");
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.expect("JSON");
    body["id"].as_str().expect("id").to_owned()
}
