//! Several instances on one PostgreSQL database (docs/api.md): they share the outbox without
//! sending a message twice, stay together within Plivo's `PLIVO_MAX_RPS` (a stand-in answers 429
//! above it), both do work, and when one stops mid-burst the other finishes its work.
//!
//! Needs `TEST_DATABASE_URL` (each test makes and drops its own database); skipped otherwise.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde_json::{json, Value};

#[path = "common/accept_async.rs"]
mod accept_async;
#[path = "common/fresh_postgres.rs"]
mod fresh_postgres;
#[path = "common/instance.rs"]
mod instance;
#[path = "common/serve.rs"]
mod serve;

use accept_async::accept_async;
use fresh_postgres::FreshPostgres;
use instance::Instance;

const MAX_RPS: usize = 20;

/// One request the stand-in saw.
#[derive(Debug, Clone)]
struct Seen {
    /// The first path segment: which instance sent it.
    instance: String,
    text: String,
    status: u16,
    /// When it arrived.
    at: Instant,
}

#[derive(Default)]
struct Log {
    seen: Vec<Seen>,
    /// Arrival times within the last second.
    window: VecDeque<Instant>,
}

/// A Plivo stand-in that answers 429 to a request when more than `MAX_RPS` arrived in the one
/// second before it (itself included), and 202 otherwise.
#[derive(Clone, Default)]
struct StandIn(Arc<Mutex<Log>>);

impl StandIn {
    async fn start() -> (Self, SocketAddr) {
        let stand_in = Self::default();
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(stand_in.clone());
        let addr = serve::serve(app).await;
        (stand_in, addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().seen.clone()
    }
}

async fn answer(State(s): State<StandIn>, uri: Uri, body: Bytes) -> Response {
    let instance = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let text = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["text"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let status = {
        let mut log = s.0.lock().unwrap();
        let now = Instant::now();
        while log
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            log.window.pop_front();
        }
        log.window.push_back(now);
        let status = if log.window.len() > MAX_RPS { 429 } else { 202 };
        log.seen.push(Seen {
            instance,
            text,
            status,
            at: now,
        });
        status
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    if status == 429 {
        let body =
            json!({"api_id": uuid::Uuid::new_v4().to_string(), "error": "too many requests"});
        return (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    }
    let body = json!({
        "api_id": uuid::Uuid::new_v4().to_string(),
        "message": "message(s) queued",
        "message_uuid": [uuid::Uuid::new_v4().to_string()],
    });
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

impl Instance {
    async fn start(db: &FreshPostgres, plivo: SocketAddr, prefix: &str) -> Self {
        let vars: HashMap<&str, String> = [
            ("PLIVO_AUTH_ID", "MAXXXXXXXXXXXXXXXXXX".to_owned()),
            ("PLIVO_AUTH_TOKEN", "test-token-123".to_owned()),
            ("PLIVO_SENDER_NUMBER", "+14155550100".to_owned()),
            ("PLIVO_API_BASE_URL", format!("http://{plivo}/{prefix}")),
            ("PLIVO_TIMEOUT_MS", "2000".to_owned()),
            ("PLIVO_RETRY_BASE_MS", "10".to_owned()),
            ("PLIVO_MAX_RPS", MAX_RPS.to_string()),
            ("DATABASE_URL", db.url().to_owned()),
            ("HOST", "127.0.0.1".to_owned()),
            ("PORT", "0".to_owned()),
        ]
        .into_iter()
        .collect();
        Instance::serve(vars).await
    }
}

/// Sends `n` asynchronous messages, alternating between the instances; returns id → text.
async fn accept(
    http: &reqwest::Client,
    bases: &[String],
    label: &str,
    n: usize,
) -> HashMap<String, String> {
    futures::stream::iter(0..n)
        .map(|i| {
            let http = http.clone();
            let url = format!("{}/send-mms", bases[i % bases.len()]);
            let text = format!("{label} message {i}");
            async move { (accept_async(http, url, &text).await, text) }
        })
        .buffer_unordered(8)
        .collect()
        .await
}

/// Waits (at most `limit`) until no message is `accepted` or `sending`, as `base` sees it.
async fn wait_until_all_queued(http: &reqwest::Client, base: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let mut waiting = false;
        for status in ["accepted", "sending"] {
            let page: Value = http
                .get(format!("{base}/messages?status={status}&limit=1"))
                .send()
                .await
                .expect("the instance answers")
                .json()
                .await
                .expect("a page");
            waiting |= !page["messages"].as_array().expect("messages").is_empty();
        }
        if !waiting {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "messages still waiting after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks the stand-in's log against the accepted messages: no 429, each sent exactly once, all
/// `queued`. Returns the sends per instance.
async fn check(
    http: &reqwest::Client,
    base: &str,
    stand_in: &StandIn,
    accepted: &HashMap<String, String>,
) -> HashMap<String, usize> {
    let seen = stand_in.seen();
    let refused = seen.iter().filter(|s| s.status == 429).count();
    let mut per_text: HashMap<&str, usize> = HashMap::new();
    let mut per_instance: HashMap<String, usize> = HashMap::new();
    for s in seen.iter().filter(|s| s.status == 202) {
        *per_text.entry(s.text.as_str()).or_default() += 1;
        *per_instance.entry(s.instance.clone()).or_default() += 1;
    }
    if refused > 0 {
        let start = seen[0].at;
        let timeline: Vec<String> = seen
            .iter()
            .map(|s| {
                let ms = s.at.duration_since(start).as_millis();
                format!(
                    "{ms}{}{}",
                    s.instance,
                    if s.status == 429 { "!" } else { "" }
                )
            })
            .collect();
        eprintln!("arrivals (ms, instance, ! = 429): {}", timeline.join(" "));
    }
    assert_eq!(refused, 0, "the stand-in answered 429 {refused} times");
    for (id, text) in accepted {
        assert_eq!(
            per_text.get(text.as_str()).copied().unwrap_or(0),
            1,
            "message {id} ({text}) was not sent exactly once"
        );
        let record: Value = http
            .get(format!("{base}/messages/{id}"))
            .send()
            .await
            .expect("the instance answers")
            .json()
            .await
            .expect("a record");
        assert_eq!(record["status"], "queued", "{record}");
        // No instance crashed: every outcome is known (a stopped one gave its leases back).
        assert_eq!(record["outcomeUnknown"], false, "{record}");
    }
    assert_eq!(seen.len(), accepted.len(), "no other request reached Plivo");
    per_instance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_the_outbox_and_the_rate_without_double_sends() {
    let Some(db) = FreshPostgres::create("multi-instance").await else {
        return;
    };
    let began = Instant::now();
    let http = reqwest::Client::new();
    let (plivo, plivo_addr) = StandIn::start().await;
    let a = Instance::start(&db, plivo_addr, "a").await;
    let b = Instance::start(&db, plivo_addr, "b").await;
    let bases = [a.base.clone(), b.base.clone()];

    let accepted = accept(&http, &bases, "shared", 150).await;
    let delivery = wait_until_all_queued(&http, &a.base, Duration::from_secs(40)).await;
    let per_instance = check(&http, &b.base, &plivo, &accepted).await;
    eprintln!(
        "two instances: 150 messages, sends per instance {per_instance:?}, all queued {delivery:?} \
         after acceptance; total {:?}",
        began.elapsed()
    );
    assert!(
        per_instance.get("a").copied().unwrap_or(0) > 0
            && per_instance.get("b").copied().unwrap_or(0) > 0,
        "both instances did work: {per_instance:?}"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_one_instance_stops_mid_burst_the_other_finishes_its_work() {
    let Some(db) = FreshPostgres::create("multi-instance").await else {
        return;
    };
    let began = Instant::now();
    let http = reqwest::Client::new();
    let (plivo, plivo_addr) = StandIn::start().await;
    let a = Instance::start(&db, plivo_addr, "a").await;
    let b = Instance::start(&db, plivo_addr, "b").await;
    let bases = [a.base.clone(), b.base.clone()];

    let accepted = accept(&http, &bases, "burst", 150).await;
    // Stop `a` once it is busy: some of its sends done, more claimed and waiting for the rate.
    let waiting = Instant::now();
    while plivo.seen().iter().filter(|s| s.instance == "a").count() < 10 {
        assert!(
            waiting.elapsed() < Duration::from_secs(20),
            "a sent nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopping = Instant::now();
    a.stop().await;
    let stop_time = stopping.elapsed();
    let delivery = wait_until_all_queued(&http, &b.base, Duration::from_secs(40)).await;
    let per_instance = check(&http, &b.base, &plivo, &accepted).await;
    eprintln!(
        "one instance stopped mid-burst: sends per instance {per_instance:?}, a stopped in \
         {stop_time:?}, b finished {delivery:?} later; total {:?}",
        began.elapsed()
    );
    assert!(
        per_instance.get("b").copied().unwrap_or(0) > 0,
        "b did work: {per_instance:?}"
    );
    b.stop().await;
}
