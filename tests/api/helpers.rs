//! Starting the app against a wiremock Plivo, and calling it.

use std::collections::HashMap;
use std::sync::Arc;

use mms_gateway::config::Config;
use mms_gateway::startup::Application;
use serde_json::{json, Value};
use wiremock::MockServer;

use crate::fresh_postgres::FreshPostgres;

pub const AUTH_ID: &str = "MAXXXXXXXXXXXXXXXXXX";
pub const AUTH_TOKEN: &str = "test-token-123";
pub const SENDER: &str = "+14155550100";
pub const MESSAGE_PATH: &str = "/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/";

/// A running app and its Plivo stand-in.
pub struct TestApp {
    pub address: String,
    pub plivo: MockServer,
    pub client: reqwest::Client,
    pub db: TestDb,
    /// The app's metrics registry (to install a test `MetricsSource`).
    pub metrics: mms_gateway::metrics::Metrics,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The database behind a test app: a SQLite file in a temporary directory, or a fresh PostgreSQL
/// database made from `TEST_DATABASE_URL` and dropped when the last handle to it goes.
#[derive(Clone)]
pub enum TestDb {
    Sqlite {
        _dir: Arc<tempfile::TempDir>,
        url: String,
    },
    Postgres(Arc<FreshPostgres>),
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("mms.db").display());
        Self::Sqlite {
            _dir: Arc::new(dir),
            url,
        }
    }

    /// `None` (after saying so on stderr) when `TEST_DATABASE_URL` is not set.
    pub async fn postgres() -> Option<Self> {
        FreshPostgres::create("postgres API")
            .await
            .map(|db| Self::Postgres(Arc::new(db)))
    }

    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } => url,
            Self::Postgres(db) => db.url(),
        }
    }
}

/// Settings every test app gets; `overrides` replace or add to them.
pub fn settings(plivo_url: &str, overrides: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = [
        ("PLIVO_AUTH_ID", AUTH_ID),
        ("PLIVO_AUTH_TOKEN", AUTH_TOKEN),
        ("PLIVO_SENDER_NUMBER", SENDER),
        ("PLIVO_API_BASE_URL", plivo_url),
        ("PLIVO_TIMEOUT_MS", "500"),
        ("PLIVO_RETRY_BASE_MS", "10"),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(false, |k| vars.get(k).cloned()).expect("test settings are valid")
}

/// Starts the app against a fresh wiremock Plivo.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the app with some settings changed, on a fresh SQLite file.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_app_on(TestDb::sqlite(), MockServer::start().await, overrides).await
}

/// Starts the app on the given database and Plivo stand-in.
pub async fn spawn_app_on(db: TestDb, plivo: MockServer, overrides: &[(&str, &str)]) -> TestApp {
    let mut all = vec![("DATABASE_URL", db.url())];
    all.extend_from_slice(overrides);
    let config = settings(&plivo.uri(), &all);
    let app = Application::build(config).await.expect("app builds");
    let address = format!("http://{}", app.local_addr());
    let metrics = app.metrics();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        address,
        plivo,
        client: reqwest::Client::new(),
        db,
        shutdown: Some(tx),
        server: Some(server),
        metrics,
    }
}

impl TestApp {
    /// Stops the app gracefully and gives back its database and Plivo stand-in.
    pub async fn stop(mut self) -> (TestDb, MockServer) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        let db = self.db.clone();
        let plivo = std::mem::replace(&mut self.plivo, MockServer::start().await);
        (db, plivo)
    }

    /// `GET {path}` without a key.
    pub async fn fetch(&self, path: &str) -> reqwest::Response {
        self.get(path, None).await
    }

    pub async fn post_with_key(&self, key: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/send-mms", self.address))
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await
            .expect("request reaches the app")
    }

    /// `GET {path}`, with `Authorization: Bearer {key}` when a key is given.
    pub async fn get(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.address));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.expect("request reaches the app")
    }

    /// `POST /send-mms` with a JSON body and `Authorization: Bearer {key}` when a key is given.
    pub async fn post_json_as(&self, body: &Value, key: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/send-mms", self.address))
            .json(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.expect("request reaches the app")
    }

    pub async fn post_json(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/send-mms", self.address))
            .json(body)
            .send()
            .await
            .expect("request reaches the app")
    }

    pub async fn post_raw(
        &self,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}/send-mms", self.address))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request reaches the app")
    }

    pub async fn plivo_calls(&self) -> usize {
        self.plivo.received_requests().await.map_or(0, |r| r.len())
    }
}

/// A valid request body.
pub fn valid_body() -> Value {
    json!({
        "recipientNumber": "+14155551234",
        "messageText": "Hello from the tests",
        "mediaUrl": "https://example.com/cat.gif",
    })
}

/// Plivo's documented 202 body.
pub fn plivo_accepted() -> Value {
    json!({
        "message": "message(s) queued",
        "message_uuid": ["db3ce55a-7f1d-11e1-8ea7-1231380bc196"],
        "api_id": "db342550-7f1d-11e1-8ea7-1231380bc196",
    })
}

/// Reads a JSON body, failing the test if it is not JSON.
pub async fn json_body(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"))
}

/// Asserts an error answer: status, JSON content type, code.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let body = json_body(response).await;
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    body
}

/// `POST /send-mms` with `Prefer: respond-async`.
pub async fn post_async(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client
        .post(format!("{}/send-mms", app.address))
        .header("prefer", "respond-async")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Polls the message until `done` holds (at most 15 s).
pub async fn wait_for(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..150 {
        let record = json_body(app.fetch(&format!("/messages/{id}")).await).await;
        if done(&record) {
            return record;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("message {id} never got there");
}

/// Runs each named test (`async fn name(db: TestDb)`) on SQLite and, when `TEST_DATABASE_URL` is
/// set, on PostgreSQL: `mod sqlite { name }` and `mod postgres { name }`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::TestDb::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = crate::helpers::TestDb::postgres().await else { return };
                    super::$name(db).await;
                }
            )*
        }
    };
}

/// As `on_both_backends!`, for tests that take a running app (`async fn name(app: TestApp)`)
/// started with the given settings: `name: overrides` (an expression seen from `mod sqlite`).
macro_rules! apps_on_both_backends {
    ($($name:ident: $overrides:expr),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let app = crate::helpers::spawn_app_on(
                        crate::helpers::TestDb::sqlite(), wiremock::MockServer::start().await, $overrides,
                    ).await;
                    super::$name(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = crate::helpers::TestDb::postgres().await else { return };
                    let app = crate::helpers::spawn_app_on(db, wiremock::MockServer::start().await, $overrides).await;
                    super::$name(app).await;
                }
            )*
        }
    };
}
