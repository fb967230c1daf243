//! Helpers shared by the simulator tests: a configured simulator, request helpers and a small
//! callback receiver.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Router;
use mms_gateway::sandbox::{Simulator, SimulatorConfig};
use serde_json::{json, Value};

pub const AUTH_ID: &str = "MAXXXXXXXXXXXXXXXXXX";
pub const TOKEN: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd";

/// A configuration with a 20 ms callback step.
pub fn fast_config() -> SimulatorConfig {
    let mut config = SimulatorConfig::new(AUTH_ID, TOKEN.into());
    config.callback_step = Duration::from_millis(20);
    config
}

pub async fn start(config: SimulatorConfig) -> Simulator {
    Simulator::spawn(config).await.expect("simulator binds")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

pub fn message_url(sim: &Simulator) -> String {
    format!("{}v1/Account/{AUTH_ID}/Message/", sim.base_url())
}

/// An authenticated Send Message request.
pub async fn post(sim: &Simulator, body: &Value) -> reqwest::Response {
    http()
        .post(message_url(sim))
        .basic_auth(AUTH_ID, Some(TOKEN))
        .json(body)
        .send()
        .await
        .expect("simulator answers")
}

/// The MDR of a message.
pub async fn mdr(sim: &Simulator, uuid: &str) -> Value {
    http()
        .get(format!("{}{uuid}/", message_url(sim)))
        .basic_auth(AUTH_ID, Some(TOKEN))
        .send()
        .await
        .expect("simulator answers")
        .json()
        .await
        .expect("MDR is JSON")
}

pub fn mms_body(dst: &str) -> Value {
    json!({"src": "14155550100", "dst": dst, "type": "mms", "text": "hello",
           "media_urls": ["https://e.com/a.jpg"]})
}

pub fn assert_json(res: &reqwest::Response) {
    assert_eq!(res.headers()["content-type"], "application/json");
}

/// Asserts a Plivo-shaped error: status, JSON content type, `api_id` and exact `error`.
pub async fn assert_error(res: reqwest::Response, status: u16, error: &str) {
    assert_eq!(res.status().as_u16(), status);
    assert_json(&res);
    let json: Value = res.json().await.expect("error body is JSON");
    assert_eq!(json["error"], error);
    assert!(json["api_id"].is_string(), "{json}");
}

/// Chainable edits of a JSON object.
pub trait JsonTap {
    fn tap_remove(self, key: &str) -> Value;
    fn tap_insert(self, key: &str, value: Value) -> Value;
}

impl JsonTap for Value {
    fn tap_remove(mut self, key: &str) -> Value {
        if let Some(obj) = self.as_object_mut() {
            obj.remove(key);
        }
        self
    }
    fn tap_insert(mut self, key: &str, value: Value) -> Value {
        self[key] = value;
        self
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub form: Vec<(String, String)>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
    /// A parameter from the form body or the query.
    pub fn param(&self, name: &str) -> Option<String> {
        let query = self.uri.query().unwrap_or_default();
        self.form
            .iter()
            .cloned()
            .chain(form_urlencoded::parse(query.as_bytes()).into_owned())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// A local callback receiver answering with scripted statuses (then 200).
#[derive(Clone, Default)]
pub struct Receiver {
    pub received: Arc<Mutex<Vec<Received>>>,
    pub answers: Arc<Mutex<VecDeque<u16>>>,
    pub base: String,
}

impl Receiver {
    pub async fn start(answers: &[u16]) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut receiver = Receiver {
            base: format!("http://{}", listener.local_addr().unwrap()),
            ..Receiver::default()
        };
        receiver.answers.lock().unwrap().extend(answers);
        let app = Router::new().fallback(record).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver.base = receiver.base.clone();
        receiver
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (or 5 s passed) and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..250 {
            if self.received().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.received()
    }
}

async fn record(
    State(receiver): State<Receiver>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let form = form_urlencoded::parse(&body).into_owned().collect();
    receiver.received.lock().unwrap().push(Received {
        method,
        uri,
        headers,
        form,
    });
    let status = receiver.answers.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}
