//! `mms-gateway send` next to a running instance on one PostgreSQL database shares Plivo's limits
//! with it, as `serve` instances share them with each other:
//!
//! - the account limit (`PLIVO_MAX_RPS`): `send` joins the fleet with a heartbeat, so the running
//!   instance shrinks to its share of two while `send` is in it (and takes the whole account back
//!   once `send` has left), and the two together never go above the limit;
//! - a pause after a 429 (`Retry-After`): one that Plivo asked of `send` holds the instance too,
//!   also when `send` gave up and exited at once;
//! - a sender's pace (`PLIVO_SENDER_MPS`): `send` reserves its sender's next slot in the database,
//!   after the slots the instance's backlog holds, instead of sending at once.
//!
//! The `send` here is the binary itself. Needs `TEST_DATABASE_URL` (each test makes and drops its
//! own database); skipped otherwise.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Output};
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

const BIN: &str = env!("CARGO_BIN_EXE_mms-gateway");
const SENDER: &str = "+14155550100";

/// One call the stand-in saw.
#[derive(Debug, Clone)]
struct Seen {
    /// The first path segment: `serve` (the instance) or `send` (the command).
    caller: String,
    src: String,
    status: u16,
    at: Instant,
}

/// Plivo: 202 with a UUID to every call, except that `send`'s calls get a 429 with
/// `Retry-After: {refuse_send}` when that is set.
#[derive(Clone, Default)]
struct StandIn {
    seen: Arc<Mutex<Vec<Seen>>>,
    refuse_send: Option<u64>,
}

impl StandIn {
    async fn start(refuse_send: Option<u64>) -> (Self, SocketAddr) {
        let stand_in = Self {
            seen: Arc::default(),
            refuse_send,
        };
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(stand_in.clone());
        let addr = serve::serve(app).await;
        (stand_in, addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer(State(s): State<StandIn>, uri: Uri, body: Bytes) -> Response {
    let caller = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let src = body["src"].as_str().unwrap_or_default().to_owned();
    let refuse = s.refuse_send.filter(|_| caller == "send");
    s.seen.lock().unwrap().push(Seen {
        caller,
        src,
        status: if refuse.is_some() { 429 } else { 202 },
        at: Instant::now(),
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    if let Some(retry_after) = refuse {
        let body = json!({"api_id": "x", "error": "too many requests"});
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after.to_string())],
            Json(body),
        )
            .into_response();
    }
    let body = json!({
        "api_id": "a",
        "message": "message(s) queued",
        "message_uuid": [uuid::Uuid::new_v4().to_string()],
    });
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// The settings both share, with `extra` on top; Plivo's calls go to `plivo/<caller>`.
fn settings(
    db: &FreshPostgres,
    plivo: SocketAddr,
    caller: &str,
    extra: &[(&'static str, String)],
) -> HashMap<&'static str, String> {
    let mut vars: HashMap<&'static str, String> = [
        ("PLIVO_AUTH_ID", "MAXXXXXXXXXXXXXXXXXX".to_owned()),
        ("PLIVO_AUTH_TOKEN", "test-token-123".to_owned()),
        ("PLIVO_SENDER_NUMBER", SENDER.to_owned()),
        ("PLIVO_API_BASE_URL", format!("http://{plivo}/{caller}")),
        ("PLIVO_TIMEOUT_MS", "2000".to_owned()),
        ("PLIVO_RETRY_BASE_MS", "10".to_owned()),
        ("DATABASE_URL", db.url().to_owned()),
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
    ]
    .into_iter()
    .collect();
    vars.extend(extra.iter().cloned());
    vars
}

/// Runs `mms-gateway send` with `vars` only (in an empty directory, so no `.env` is read);
/// returns its output and when it started and ended.
async fn run_send(vars: HashMap<&'static str, String>) -> (Output, Instant, Instant) {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(vars)
            .args([
                "send",
                "--to",
                "+14155559999",
                "--text",
                "from the command line",
                "--media",
                "https://example.com/cat.gif",
            ]);
        let started = Instant::now();
        let output = cmd.output().expect("the binary runs");
        (output, started, Instant::now())
    })
    .await
    .unwrap()
}

/// Accepts `n` asynchronous messages on `base`, 8 at a time.
async fn accept_many(http: &reqwest::Client, base: &str, n: usize) {
    futures::stream::iter(0..n)
        .map(|i| {
            let (http, url) = (http.clone(), format!("{base}/send-mms"));
            async move { accept_async(http, url, &format!("backlog {i}")).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
}

/// The instance's calls in `[from, to)`.
fn serve_calls(seen: &[Seen], from: Instant, to: Instant) -> usize {
    seen.iter()
        .filter(|s| s.caller == "serve" && s.at >= from && s.at < to)
        .count()
}

fn succeeded(output: &Output) {
    assert!(
        output.status.success(),
        "send failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let uuid = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert_eq!(uuid.len(), 36, "one message UUID on stdout: {uuid:?}");
}

const MAX_RPS: usize = 20;

fn account_limit() -> [(&'static str, String); 1] {
    [("PLIVO_MAX_RPS", MAX_RPS.to_string())]
}

/// An instance with a backlog that keeps it at its whole share of the account (19 calls a
/// second) for longer than a test looks, once it has made its first calls.
async fn busy_instance(db: &FreshPostgres, plivo: SocketAddr, stand_in: &StandIn) -> Instance {
    let serve = Instance::serve(settings(db, plivo, "serve", &account_limit())).await;
    accept_many(&reqwest::Client::new(), &serve.base, 300).await;
    let warming = Instant::now();
    while stand_in.seen().len() < 2 * MAX_RPS {
        assert!(
            warming.elapsed() < Duration::from_secs(20),
            "the instance sends nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    serve
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn send_takes_a_share_of_the_account_limit_while_it_runs() {
    let Some(db) = FreshPostgres::create("send shares limits").await else {
        return;
    };
    let (stand_in, plivo) = StandIn::start(None).await;
    let serve = busy_instance(&db, plivo, &stand_in).await;
    let (output, started, ended) = run_send(settings(&db, plivo, "send", &account_limit())).await;
    succeeded(&output);
    // Long enough after `send` left for the instance to have noticed (one heartbeat) and waited
    // out its old share's window, then a second more to measure.
    let back = ended + Duration::from_millis(2500);
    tokio::time::sleep_until((back + Duration::from_secs(1)).into()).await;
    let seen = stand_in.seen();
    serve.stop().await;

    let sent: Vec<&Seen> = seen.iter().filter(|s| s.caller == "send").collect();
    assert_eq!(sent.len(), 1, "send called Plivo once: {sent:?}");
    let sent_at = sent[0].at;

    let second = Duration::from_secs(1);
    let alone_before = serve_calls(&seen, started - second, started);
    let beside_send = serve_calls(&seen, sent_at - second, sent_at);
    let alone_after = serve_calls(&seen, back, back + second);
    eprintln!(
        "the instance's calls in one second: {alone_before} before send started, {beside_send} \
         before send's own call, {alone_after} after send left"
    );
    // Alone it has the whole account: (20 - 1) calls a second, evenly spaced.
    assert!(
        alone_before >= 15,
        "the instance was not busy before send started ({alone_before} calls in a second)"
    );
    // `send` waits two heartbeats after joining before it calls Plivo; by then the instance has
    // seen it (one heartbeat) and shrunk to its share of two: (20 - 2) / 2 = 9 a second.
    assert!(
        beside_send <= 11,
        "the instance kept {beside_send} calls a second while send was in the fleet"
    );
    assert!(
        alone_after >= 15,
        "the instance did not take the account back after send left ({alone_after} calls a \
         second)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pause_plivo_asked_of_send_holds_the_instance_after_send_has_exited() {
    let Some(db) = FreshPostgres::create("send shares limits").await else {
        return;
    };
    // A `Retry-After` over 30 s ends the retries: `send` gives up and exits at once.
    let (stand_in, plivo) = StandIn::start(Some(60)).await;
    let serve = busy_instance(&db, plivo, &stand_in).await;
    let (output, _, ended) = run_send(settings(&db, plivo, "send", &account_limit())).await;
    assert_eq!(output.status.code(), Some(1), "send gave up on the 429");
    // The instance learns of the pause at its next heartbeat (within a second); from then on it
    // must not call Plivo for the rest of the minute.
    let from = ended + Duration::from_secs(2);
    let to = from + Duration::from_secs(3);
    tokio::time::sleep_until(to.into()).await;
    let seen = stand_in.seen();
    serve.stop().await;

    let refused: Vec<&Seen> = seen.iter().filter(|s| s.caller == "send").collect();
    assert_eq!(refused.len(), 1, "send called Plivo once: {refused:?}");
    let during_pause = serve_calls(&seen, from, to);
    assert_eq!(
        during_pause, 0,
        "the instance called Plivo {during_pause} times during the pause Plivo asked of send"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn send_waits_for_its_senders_slot_after_the_instances_backlog() {
    let Some(db) = FreshPostgres::create("send shares limits").await else {
        return;
    };
    const MPS: f64 = 2.0;
    const BACKLOG: usize = 12;
    let (stand_in, plivo) = StandIn::start(None).await;
    let paced = [
        ("PLIVO_MAX_RPS", MAX_RPS.to_string()),
        ("PLIVO_SENDER_MPS", MPS.to_string()),
        ("SYNC_SLOT_WAIT_MS", "20000".to_owned()),
    ];
    let serve = Instance::serve(settings(&db, plivo, "serve", &paced)).await;
    let http = reqwest::Client::new();

    // Each accepted message holds one slot of the one sender: the twelve take its next 6 s.
    let enqueued = Instant::now();
    accept_many(&http, &serve.base, BACKLOG).await;
    let (output, _, _) = run_send(settings(&db, plivo, "send", &paced)).await;
    succeeded(&output);
    let waiting = Instant::now();
    while stand_in.seen().len() < BACKLOG + 1 {
        assert!(
            waiting.elapsed() < Duration::from_secs(20),
            "the backlog was not sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = stand_in.seen();
    serve.stop().await;

    assert!(
        seen.iter().all(|s| s.status == 202 && s.src == SENDER),
        "{seen:?}"
    );
    let start = seen[0].at;
    let timeline: Vec<String> = seen
        .iter()
        .map(|s| format!("{}:{}ms", s.caller, s.at.duration_since(start).as_millis()))
        .collect();
    eprintln!("calls from {SENDER}: {}", timeline.join(" "));
    let sent: Vec<&Seen> = seen.iter().filter(|s| s.caller == "send").collect();
    assert_eq!(sent.len(), 1, "send called Plivo once");
    let last_of_backlog = seen
        .iter()
        .filter(|s| s.caller == "serve")
        .map(|s| s.at)
        .max()
        .expect("the backlog was sent");
    assert!(
        sent[0].at > last_of_backlog,
        "send went before the slots the instance's backlog held"
    );
    // Its slot is the one after the backlog's twelve, which began no earlier than `enqueued`.
    let earliest = enqueued + Duration::from_secs_f64(BACKLOG as f64 / MPS);
    assert!(
        sent[0].at + Duration::from_millis(100) >= earliest,
        "send called Plivo {:?} before its sender's slot",
        earliest.saturating_duration_since(sent[0].at)
    );
}
