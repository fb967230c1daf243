//! A built-in Plivo simulator: Plivo's Message API (docs/plivo-api.md Appendix A) on 127.0.0.1, so
//! the service runs with no account (`mms-gateway serve --sandbox`) and tests can use it.
//!
//! * `POST /v1/Account/{auth_id}/Message/` validates like Plivo and answers 202 with one message
//!   UUID per valid destination; magic recipient numbers ([`MAGIC_NUMBERS`]) script failures.
//! * `GET /v1/Account/{auth_id}/Message/{uuid}/` answers the message's MDR.
//! * `GET /v1/Account/{auth_id}/Message/?…` lists the accepted messages with Plivo's filters, at
//!   most 20 a page and 20 list requests a minute (429 beyond).
//! * `POST /v1/Account/{auth_id}/Media/` (multipart, parts named `file`, at most 10 files of
//!   2 MB) stores the files' details and answers their media ids; `GET …/Media/{media_id}/`
//!   answers one (docs/plivo-api.md §6.4). A send naming a media id the simulator never issued is
//!   refused with 400.
//! * When a send has `url`, signed status callbacks (V3 and V2 headers) follow, `callback_step`
//!   apart, retried on a non-2xx answer.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mms_gateway::sandbox::{Simulator, SimulatorConfig};
//! let sim = Simulator::spawn(SimulatorConfig::new("MAXXXXXXXXXXXXXXXXXX", "token".into())).await?;
//! let base = sim.base_url(); // point PLIVO_API_BASE_URL here
//! # let _ = base; Ok(()) }
//! ```

mod callbacks;
// --- reconciliation ---
mod list;
mod mdr;
mod replies;
// --- media uploads ---
mod media;
mod scenarios;
mod send;
mod simulator;
mod state;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use scenarios::{MagicNumber, MAGIC_NUMBERS};
pub use simulator::router;
pub use state::SimulatorState;

/// How a simulator behaves.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The account id the simulator accepts (in the path and in Basic auth).
    pub auth_id: String,
    /// The auth token the simulator accepts and signs callbacks with.
    pub auth_token: SecretString,
    /// Pause before each callback of one message (default 500 ms); retries wait 2, 4, 8 × this.
    pub callback_step: Duration,
    /// How long the "hang" magic number (+14155550004) hangs (default 60 s).
    pub hang_for: Duration,
    /// Answer 429 above 300 requests per 5 s or 100 in flight (default true).
    pub enforce_rate_limits: bool,
    /// Where incoming messages (the magic numbers' replies) are posted, signed: the `message_url`
    /// of the Plivo Application linked to the sender numbers. `None`: the replies are not sent.
    pub message_url: Option<String>,
}

impl SimulatorConfig {
    /// A configuration with the defaults: 500 ms callback step, 60 s hang, rate limits on.
    pub fn new(auth_id: impl Into<String>, auth_token: SecretString) -> Self {
        Self {
            auth_id: auth_id.into(),
            auth_token,
            callback_step: Duration::from_millis(500),
            hang_for: Duration::from_secs(60),
            enforce_rate_limits: true,
            message_url: None,
        }
    }
}

/// One Message POST the simulator received (whether or not it was accepted).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Request path, e.g. `/v1/Account/MA…/Message/`.
    pub path: String,
    /// The `Authorization` header as received (contains the credentials; never log it).
    pub authorization: Option<String>,
    /// The body parsed as JSON, or `Value::Null` when it was not JSON.
    pub body: serde_json::Value,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

// --- reconciliation ---
/// One List Messages request the simulator received.
#[derive(Debug, Clone)]
pub struct RecordedList {
    /// The query parameters.
    pub params: std::collections::HashMap<String, String>,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// Whether it was answered (`false`: refused with 429, over 20 a minute).
    pub admitted: bool,
}

/// One status-callback attempt the simulator made.
#[derive(Debug, Clone)]
pub struct RecordedCallback {
    /// The callback URL as given in the send's `url`.
    pub url: String,
    /// `GET` or `POST`.
    pub method: String,
    /// The parameters sent (form body for POST, query for GET), in Plivo's names.
    pub params: Vec<(String, String)>,
    /// The HTTP status received back, or `None` when there was no answer.
    pub status: Option<u16>,
    /// 0 for the first attempt, 1–3 for retries.
    pub attempt: u32,
    /// When the attempt was made.
    pub sent_at: DateTime<Utc>,
}

impl RecordedCallback {
    /// The value of parameter `name`, if sent.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A running simulator. Cheap to clone; the server task lives until [`Simulator::shutdown`] or
/// the end of the tokio runtime.
#[derive(Clone)]
pub struct Simulator {
    state: SimulatorState,
    addr: SocketAddr,
    shutdown: Arc<Notify>,
}

impl Simulator {
    /// Binds 127.0.0.1:0 and serves in a spawned tokio task.
    pub async fn spawn(config: SimulatorConfig) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let state = SimulatorState::new(config);
        state.set_addr(addr);
        let shutdown = Arc::new(Notify::new());
        let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let stop = Arc::clone(&shutdown);
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.notified().await })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "Plivo simulator stopped");
            }
        });
        tracing::info!(%addr, "Plivo simulator listening");
        Ok(Simulator {
            state,
            addr,
            shutdown,
        })
    }

    /// Where the simulator listens, e.g. `http://127.0.0.1:PORT` (no trailing path).
    pub fn base_url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}", self.addr))
            .expect("a socket address is a valid URL host")
    }

    /// The socket address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every Message POST received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// Every status-callback attempt made so far.
    pub fn callbacks_sent(&self) -> Vec<RecordedCallback> {
        self.state.callbacks_sent()
    }

    /// The shared state (for inspecting messages).
    pub fn state(&self) -> &SimulatorState {
        &self.state
    }

    /// Stops accepting connections; in-flight requests finish.
    pub fn shutdown(&self) {
        self.shutdown.notify_one();
    }
}
