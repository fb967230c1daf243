//! The sandbox service for the browser tests, a receiver for its status events, and API calls.

use std::time::{Duration, Instant};

use mms_gateway::config::Config;
use mms_gateway::startup::Application;
use serde_json::{json, Value};

/// The service in sandbox mode on 127.0.0.1, port 0, with its own SQLite file.
pub struct Sandbox {
    pub address: String,
    pub key: Option<String>,
    /// Where status events of messages sent with [`Sandbox::send_with_callback`] go (answers 204).
    pub callback_url: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Starts the sandbox; `extra` adds or replaces settings (e.g. `API_KEYS`).
pub async fn start(extra: &[(&str, &str)]) -> Sandbox {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("console.db").display());
    let mut vars: Vec<(String, String)> = [
        ("PORT", "0"),
        ("HOST", "127.0.0.1"),
        ("DATABASE_URL", url.as_str()),
        ("PLIVO_RETRY_BASE_MS", "10"),
        ("LOG_FORMAT", "pretty"),
        ("RUST_LOG", "off"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in extra {
        vars.retain(|(name, _)| name != k);
        vars.push(((*k).to_owned(), (*v).to_owned()));
    }
    let key = vars
        .iter()
        .find(|(k, _)| k == "API_KEYS")
        .map(|(_, v)| v.split(',').next().unwrap_or_default().to_owned());
    let config = Config::from_lookup(true, |k| {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .expect("sandbox settings");
    let app = Application::build(config).await.expect("sandbox builds");
    let address = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until(std::future::pending()));
    Sandbox {
        address,
        key,
        callback_url: callback_receiver().await,
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

/// A local endpoint that answers every status event with 204.
async fn callback_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("receiver binds");
    let url = format!("http://{}/events", listener.local_addr().expect("address"));
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(|| async { axum::http::StatusCode::NO_CONTENT }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

impl Sandbox {
    /// The console's address.
    pub fn console(&self) -> String {
        format!("{}/console", self.address)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .client
            .request(method, format!("{}{path}", self.address));
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// `POST /send-mms` (synchronous) with `extra` fields; the new message's id.
    pub async fn send_with(&self, to: &str, extra: Value) -> String {
        let mut body = json!({
            "recipientNumber": to,
            "messageText": format!("Hello {to}"),
            "mediaUrl": "https://example.com/cat.gif",
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let response = self
            .request(reqwest::Method::POST, "/send-mms")
            .json(&body)
            .send()
            .await
            .expect("send-mms answers");
        let status = response.status();
        let answer: Value = response.json().await.expect("JSON answer");
        assert!(status.is_success(), "send to {to}: {status} {answer}");
        answer["id"].as_str().expect("an id").to_owned()
    }

    /// A plain send to `to`.
    pub async fn send(&self, to: &str) -> String {
        self.send_with(to, json!({})).await
    }

    /// A send whose status events go to [`Sandbox::callback_url`].
    pub async fn send_with_callback(&self, to: &str) -> String {
        self.send_with(to, json!({"callbackUrl": self.callback_url}))
            .await
    }

    /// `GET` of a JSON resource.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("the service answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Polls `GET /messages/{id}` until `done` holds (bounded).
    pub async fn wait_for_message(
        &self,
        id: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            let (_, record) = self.get(&format!("/messages/{id}")).await;
            if done(&record) {
                return record;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "message {id} never {what}: {record}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
