//! Per-sender pacing (`PLIVO_SENDER_MPS`) across two instances on one PostgreSQL database: each
//! sender's recipients reach Plivo at the configured rate (within one message a second), never
//! faster in any window, while the account limit (`PLIVO_MAX_RPS`, a stand-in answering 429
//! above it) also holds.
//!
//! Needs `TEST_DATABASE_URL` (the test makes and drops its own database); skipped otherwise.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[path = "common/fresh_postgres.rs"]
mod fresh_postgres;
#[path = "common/instance.rs"]
mod instance;
#[path = "common/serve.rs"]
mod serve;

use fresh_postgres::FreshPostgres;
use instance::Instance;

const MAX_RPS: usize = 10;
const MPS: f64 = 3.0;
const POOL: &str = "+14155550101,+14155550102";

/// One call the stand-in saw.
#[derive(Debug, Clone)]
struct Seen {
    src: String,
    recipients: usize,
    status: u16,
    at: Instant,
}

#[derive(Default)]
struct Log {
    seen: Vec<Seen>,
    window: VecDeque<Instant>,
}

/// Plivo: 429 when more than `MAX_RPS` calls arrived in the last second, else 202 with one UUID per
/// recipient.
#[derive(Clone, Default)]
struct StandIn(Arc<Mutex<Log>>);

async fn answer(State(s): State<StandIn>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let src = body["src"].as_str().unwrap_or_default().to_owned();
    let recipients = body["dst"].as_str().unwrap_or_default().split('<').count();
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
            src,
            recipients,
            status,
            at: now,
        });
        status
    };
    if status == 429 {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"api_id": "x", "error": "too many requests"})),
        )
            .into_response();
    }
    let uuids: Vec<String> = (0..recipients)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    (
        StatusCode::ACCEPTED,
        Json(json!({"api_id": "a", "message": "message(s) queued", "message_uuid": uuids})),
    )
        .into_response()
}

async fn start_stand_in() -> (StandIn, SocketAddr) {
    let stand_in = StandIn::default();
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(stand_in.clone());
    let addr = serve::serve(app).await;
    (stand_in, addr)
}

/// The accepted calls of each sender, in arrival order, senders sorted.
fn by_sender(seen: &[Seen]) -> Vec<(String, Vec<Seen>)> {
    let mut per_sender: HashMap<String, Vec<Seen>> = HashMap::new();
    for s in seen.iter().filter(|s| s.status == 202) {
        per_sender.entry(s.src.clone()).or_default().push(s.clone());
    }
    let mut senders: Vec<_> = per_sender.into_iter().collect();
    senders.sort_by(|a, b| a.0.cmp(&b.0));
    senders
}

/// A sender's recipients, the span from its first call to its last, and its rate: the first
/// call's recipients go at once, the rest follow at the rate.
fn measured(calls: &[Seen]) -> (usize, f64, f64) {
    let total: usize = calls.iter().map(|c| c.recipients).sum();
    let span = calls.last().map_or(0.0, |last| {
        last.at.duration_since(calls[0].at).as_secs_f64()
    });
    (total, span, (total - calls[0].recipients) as f64 / span)
}

impl Instance {
    async fn start(db: &FreshPostgres, plivo: SocketAddr) -> Self {
        Self::start_with(db.url(), plivo, POOL, MPS).await
    }

    async fn start_with(db_url: &str, plivo: SocketAddr, pool: &str, mps: f64) -> Self {
        let vars: HashMap<&str, String> = [
            ("PLIVO_AUTH_ID", "MAXXXXXXXXXXXXXXXXXX".to_owned()),
            ("PLIVO_AUTH_TOKEN", "test-token-123".to_owned()),
            ("PLIVO_SENDER_NUMBER", pool.to_owned()),
            ("PLIVO_SENDER_MPS", mps.to_string()),
            ("PLIVO_API_BASE_URL", format!("http://{plivo}")),
            ("PLIVO_TIMEOUT_MS", "2000".to_owned()),
            ("PLIVO_RETRY_BASE_MS", "10".to_owned()),
            ("PLIVO_MAX_RPS", MAX_RPS.to_string()),
            ("DATABASE_URL", db_url.to_owned()),
            ("HOST", "127.0.0.1".to_owned()),
            ("PORT", "0".to_owned()),
        ]
        .into_iter()
        .collect();
        Instance::serve(vars).await
    }
}

async fn waiting(http: &reqwest::Client, base: &str) -> bool {
    for status in ["accepted", "sending"] {
        let page: Value = http
            .get(format!("{base}/messages?status={status}&limit=1"))
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("a page");
        if !page["messages"].as_array().expect("messages").is_empty() {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pacing_per_sender_holds_across_two_instances() {
    let Some(db) = FreshPostgres::create("pacing").await else {
        return;
    };
    let (stand_in, plivo) = start_stand_in().await;
    let a = Instance::start(&db, plivo).await;
    let b = Instance::start(&db, plivo).await;
    let http = reqwest::Client::new();
    // Let the two settle their shares of the account limit (one heartbeat a second; a new share
    // waits out the old one's window) before timing anything.
    tokio::time::sleep(Duration::from_millis(3500)).await;

    // A bulk send of 24 on one instance and 8 singles on the other, all asynchronous.
    let bulk: Vec<String> = (0..24)
        .map(|i| format!("+1415555{:04}", 3000 + i))
        .collect();
    let response = http
        .post(format!("{}/send-mms", a.base))
        .json(&json!({"recipientNumbers": bulk, "messageText": "bulk", "mediaUrl": "https://example.com/a.gif"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    for i in 0..8 {
        let response = http
            .post(format!("{}/send-mms", b.base))
            .header("prefer", "respond-async")
            .json(&json!({"recipientNumber": format!("+1415555{:04}", 4000 + i), "messageText": "single", "mediaUrl": "https://example.com/a.gif"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    let started = Instant::now();
    while waiting(&http, &a.base).await {
        assert!(started.elapsed() < Duration::from_secs(60), "still waiting");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen = stand_in.0.lock().unwrap().seen.clone();
    a.stop().await;
    b.stop().await;

    assert_eq!(
        seen.iter().filter(|s| s.status == 429).count(),
        0,
        "{seen:?}"
    );
    assert_eq!(seen.iter().map(|s| s.recipients).sum::<usize>(), 32);
    let per_sender = by_sender(&seen);
    assert_eq!(per_sender.len(), 2, "both numbers send");
    let per_call = MPS.floor() as usize;
    let start = seen[0].at;
    for (sender, calls) in &per_sender {
        let timeline: Vec<String> = calls
            .iter()
            .map(|c| {
                format!(
                    "{}ms×{}",
                    c.at.duration_since(start).as_millis(),
                    c.recipients
                )
            })
            .collect();
        eprintln!("{sender}: {}", timeline.join(" "));
    }
    for (sender, calls) in per_sender {
        assert!(
            calls.iter().all(|c| c.recipients <= per_call),
            "{sender}: {calls:?}"
        );
        let (total, span, rate) = measured(&calls);
        assert!(
            (rate - MPS).abs() <= 1.0,
            "{sender}: {total} recipients in {span:.2} s is {rate:.2}/s, not {MPS}/s"
        );
        // Never a burst: at most MPS × t + one call's worth in any window, allowing for how late
        // a call may leave after its slot (the account limiter spaces an instance's calls 1/4 s
        // apart here, a worker takes a due slot within 0.1 s, and the machine may be loaded):
        // up to a second late, so MPS × (t + 1) + 3. Without pacing all 32 would come at once.
        for i in 0..calls.len() {
            let mut count = 0;
            for j in i..calls.len() {
                count += calls[j].recipients;
                let t = calls[j].at.duration_since(calls[i].at).as_secs_f64();
                assert!(
                    count as f64 <= MPS * (t + 1.0) + per_call as f64,
                    "{sender}: {count} recipients in {t:.2} s"
                );
            }
        }
    }
}

/// The benchmark of BENCHMARKS.md "Per-sender pacing": a backlog of 10,000 messages for a pool of
/// three numbers at `PLIVO_SENDER_MPS=20` (and the default `PLIVO_MAX_RPS=60`), one instance on
/// SQLite. Prints each sender's measured rate and the total as a share of the allowed rate, and
/// the 429s the stand-in answered. About three minutes; run it with
/// `cargo test --test pacing -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark (about three minutes); see BENCHMARKS.md"]
async fn bench_a_backlog_of_10000_for_three_senders() {
    const BENCH_MPS: f64 = 20.0;
    const BENCH_POOL: &str = "+14155550101,+14155550102,+14155550103";
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let (stand_in, plivo) = start_stand_in().await;
    let app = Instance::start_with(&url, plivo, BENCH_POOL, BENCH_MPS).await;
    let http = reqwest::Client::new();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for batch in 0..10 {
        let numbers: Vec<String> = (0..1000)
            .map(|i| format!("+1415{:07}", 5_000_000 + batch * 1000 + i))
            .collect();
        let response = http
            .post(format!("{}/send-mms", app.base))
            .json(&json!({"recipientNumbers": numbers, "messageText": "bench",
                          "mediaUrl": "https://example.com/a.gif"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    let started = Instant::now();
    loop {
        let total: usize = stand_in
            .0
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.status == 202)
            .map(|s| s.recipients)
            .sum();
        if total >= 10_000 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "only {total} sent"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let seen = stand_in.0.lock().unwrap().seen.clone();
    app.stop().await;
    let refused = seen.iter().filter(|s| s.status == 429).count();
    let senders = by_sender(&seen);
    let mut total_rate = 0.0;
    for (sender, calls) in &senders {
        let (total, span, rate) = measured(calls);
        total_rate += rate;
        println!(
            "BENCH {sender}: {total} recipients in {} calls over {span:.1} s: {rate:.2}/s = {:.1} % of {BENCH_MPS}/s",
            calls.len(),
            100.0 * rate / BENCH_MPS
        );
    }
    let allowed = BENCH_MPS * senders.len() as f64;
    println!(
        "BENCH total: {total_rate:.2}/s = {:.1} % of {allowed}/s; 429s from the stand-in: {refused}; calls: {}",
        100.0 * total_rate / allowed,
        seen.len()
    );
}
