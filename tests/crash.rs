//! The crash test (docs/api.md): a process killed at any moment loses no accepted message.
//!
//! The real binary accepts a few thousand asynchronous messages against a small Plivo stand-in, is
//! killed with SIGKILL in the middle of delivery, and is started again on the same SQLite file.
//! Then every accepted message must have reached the stand-in exactly once: the sends the killed
//! process left without a recorded answer are checked with the stand-in's List Messages (Plivo's
//! records) before anything is sent again, so none is sent twice and none is lost.

#[path = "common/serve.rs"]
mod serve;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::watch;

const BIN: &str = env!("CARGO_BIN_EXE_mms-gateway");
const MESSAGES: usize = 2000;
/// Requests the test client has in flight (below `MAX_CONCURRENT_REQUESTS_PER_CLIENT`, 32).
const CLIENT_CONCURRENCY: usize = 16;

/// A Plivo stand-in: records the text, destination and UUID of every send as it arrives, answers
/// 202 after 5–20 ms, and holds every answer while `hold` is true. Its List Messages answers from
/// what it recorded, filtered by `to_number`.
#[derive(Clone)]
struct StandIn {
    texts: Arc<Mutex<Vec<String>>>,
    records: Arc<Mutex<Vec<(String, String)>>>,
    hold: watch::Sender<bool>,
}

impl StandIn {
    async fn start() -> (Self, SocketAddr) {
        let (hold, _) = watch::channel(true);
        let stand_in = Self {
            texts: Arc::default(),
            records: Arc::default(),
            hold,
        };
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(stand_in.clone());
        let addr = serve::serve(app).await;
        (stand_in, addr)
    }

    fn sends(&self) -> usize {
        self.texts.lock().unwrap().len()
    }
}

async fn answer(
    State(s): State<StandIn>,
    method: Method,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if method == Method::GET {
        let to = query.get("to_number").cloned().unwrap_or_default();
        let objects: Vec<Value> = s
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|(dst, _)| *dst == to)
            .map(|(dst, uuid)| {
                json!({"message_uuid": uuid, "message_state": "queued", "to_number": dst,
                       "from_number": "14155550100", "message_type": "mms",
                       "message_direction": "outbound"})
            })
            .collect();
        let page = json!({"api_id": "l", "meta": {"limit": 20, "next": null, "offset": 0},
                          "objects": objects});
        return (StatusCode::OK, Json(page)).into_response();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let text = body["text"].as_str().unwrap_or_default().to_owned();
    let dst: String = body["dst"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let uuid = uuid::Uuid::new_v4().to_string();
    {
        // Recorded together: whatever the stand-in received, its records hold.
        let mut texts = s.texts.lock().unwrap();
        s.records.lock().unwrap().push((dst, uuid.clone()));
        texts.push(text);
    }
    let mut hold = s.hold.subscribe();
    let _ = hold.wait_for(|held| !*held).await;
    let pause = rand::thread_rng().gen_range(5..=20);
    tokio::time::sleep(Duration::from_millis(pause)).await;
    let answer = json!({
        "api_id": uuid::Uuid::new_v4().to_string(),
        "message": "message(s) queued",
        "message_uuid": [uuid],
    });
    (StatusCode::ACCEPTED, Json(answer)).into_response()
}

/// The service as a child process, killed (SIGKILL) when dropped.
struct Service {
    child: Child,
    base: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `mms-gateway serve` in `dir` (so no `.env` is read) and waits until it answers.
async fn start_service(dir: &Path, plivo: SocketAddr, http: &reqwest::Client) -> Service {
    let port = free_port();
    let child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs([
            ("PLIVO_AUTH_ID", "MAXXXXXXXXXXXXXXXXXX"),
            ("PLIVO_AUTH_TOKEN", "test-token-123"),
            ("PLIVO_SENDER_NUMBER", "+14155550100"),
            ("PLIVO_API_BASE_URL", &format!("http://{plivo}")),
            // An attempt (1 s for a slot, 5 s for Plivo) ends before the 8 s lease does.
            ("PLIVO_TIMEOUT_MS", "5000"),
            ("PLIVO_RETRY_BASE_MS", "10"),
            ("PLIVO_MAX_RPS", "2000"),
            ("DELIVERY_LEASE_SECONDS", "8"),
            // The killed process's unanswered sends are checked with the stand-in at once.
            ("RECONCILE_SETTLE_SECONDS", "0"),
            ("RECONCILE_MAX_PER_MINUTE", "1000"),
            (
                "DATABASE_URL",
                &format!("sqlite://{}", dir.join("x.db").display()),
            ),
            ("HOST", "127.0.0.1"),
            ("PORT", &port.to_string()),
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "warn"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts");
    let service = Service {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    loop {
        let health = http.get(format!("{}/health", service.base)).send().await;
        if health.is_ok_and(|r| r.status().is_success()) {
            return service;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the service did not answer /health within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One asynchronous send to `to` with `text`, which must be accepted (`202`); returns its id.
async fn accept_to(http: reqwest::Client, url: String, text: &str, to: &str) -> String {
    let response = http
        .post(url)
        .header("prefer", "respond-async")
        .json(&json!({"recipientNumber": to, "messageText": text,
                      "mediaUrl": "https://example.com/cat.gif"}))
        .send()
        .await
        .expect("the service answers");
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.expect("JSON");
    body["id"].as_str().expect("id").to_owned()
}

/// Every message the service knows, by id.
async fn all_messages(http: &reqwest::Client, base: &str) -> HashMap<String, Value> {
    let mut messages = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/messages?limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = http
            .get(url)
            .send()
            .await
            .expect("the service answers")
            .json()
            .await
            .expect("a page of messages");
        for m in page["messages"].as_array().expect("messages") {
            messages.insert(m["id"].as_str().expect("id").to_owned(), m.clone());
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return messages,
        }
    }
}

/// How many messages are in `status` (at most 1 is asked for: is there any?).
async fn any_in(http: &reqwest::Client, base: &str, status: &str) -> bool {
    let page: Value = http
        .get(format!("{base}/messages?status={status}&limit=1"))
        .send()
        .await
        .expect("the service answers")
        .json()
        .await
        .expect("a page of messages");
    !page["messages"].as_array().expect("messages").is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_process_loses_no_accepted_message_and_sends_none_twice() {
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let (plivo, plivo_addr) = StandIn::start().await;
    let first = start_service(dir.path(), plivo_addr, &http).await;

    // Accept every message while the stand-in holds its answers, so that delivery has barely
    // started when acceptance ends, however slow the machine (the first sends wait, in flight).
    let accepting = Instant::now();
    let accepted: Vec<(String, String)> = futures::stream::iter(0..MESSAGES)
        .map(|i| {
            let http = http.clone();
            let url = format!("{}/send-mms", first.base);
            async move {
                let text = format!("crash test message {i}");
                // One recipient each, so that Plivo's records tell every message apart.
                let to = format!("+1415555{:04}", 2000 + i);
                (accept_to(http, url, &text, &to).await, text)
            }
        })
        .buffer_unordered(CLIENT_CONCURRENCY)
        .collect()
        .await;
    let accept_time = accepting.elapsed();
    let _ = plivo.hold.send(false);

    // Kill the process once about a third has gone out: some sent and recorded, some in flight.
    let waiting = Instant::now();
    while plivo.sends() < MESSAGES / 3 {
        assert!(
            waiting.elapsed() < Duration::from_secs(20),
            "delivery did not progress: {} sends",
            plivo.sends()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let sends_at_kill = plivo.sends();
    drop(first); // SIGKILL
    let sends_after_kill = plivo.sends();

    let second = start_service(dir.path(), plivo_addr, &http).await;
    let restarted = Instant::now();
    loop {
        if !any_in(&http, &second.base, "accepted").await
            && !any_in(&http, &second.base, "sending").await
        {
            break;
        }
        if restarted.elapsed() >= Duration::from_secs(40) {
            let stuck: Vec<Value> = all_messages(&http, &second.base)
                .await
                .into_values()
                .filter(|m| m["status"] == "sending" || m["status"] == "accepted")
                .take(2)
                .collect();
            panic!("messages still waiting 40 s after the restart, e.g. {stuck:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let recovery_time = restarted.elapsed();

    let records = all_messages(&http, &second.base).await;
    let mut sends: HashMap<String, usize> = HashMap::new();
    for text in plivo.texts.lock().unwrap().iter() {
        *sends.entry(text.clone()).or_default() += 1;
    }
    let ids: HashSet<&str> = accepted.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), MESSAGES, "ids are unique");
    let (mut unknown, mut duplicated) = (0, Vec::new());
    for (id, text) in &accepted {
        let record = records
            .get(id)
            .unwrap_or_else(|| panic!("accepted message {id} is not in the store"));
        assert_eq!(record["status"], "queued", "{record}");
        let flagged = record["outcomeUnknown"] == true;
        unknown += usize::from(flagged);
        let n = sends.get(text).copied().unwrap_or(0);
        assert!(n >= 1, "accepted message {id} ({text}) never reached Plivo");
        if n > 1 {
            duplicated.push((id.clone(), n));
        }
    }
    let total_sends: usize = sends.values().sum();
    eprintln!(
        "crash test: {MESSAGES} accepted in {accept_time:?}; killed at {sends_at_kill} sends \
         ({sends_after_kill} seen after the kill); after restart all queued in {recovery_time:?}; \
         {total_sends} sends in all, {} messages sent twice or more, {unknown} still flagged \
         outcomeUnknown; total {:?}",
        duplicated.len(),
        began.elapsed()
    );
    assert!(duplicated.is_empty(), "sent more than once: {duplicated:?}");
    assert_eq!(
        unknown, 0,
        "every unknown outcome was checked with Plivo's records"
    );
    assert!(
        sends_at_kill < MESSAGES,
        "the kill came after delivery had ended"
    );
}
