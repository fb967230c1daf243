//! Fault suite: the real service against a Plivo stand-in that misbehaves.
//!
//! Every case checks three things: the contract's answer (§3 status table), no panic anywhere in
//! the process, and no leak — the process's open file descriptors (and, loosely, its resident
//! memory) return to their level once the storm is over.
//!
//! The stand-in is a raw TCP server, so it can do what no well-behaved HTTP library would: reset
//! the connection in the middle of an answer, lie about the content type, send garbage or huge
//! bodies. Cases run one at a time (a process-wide lock), because descriptors and memory are
//! counted for the whole test process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use futures::StreamExt;
use mms_gateway::config::Config;
use mms_gateway::startup::Application;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const AUTH_ID: &str = "MAXXXXXXXXXXXXXXXXXX";
const ACCEPTED: &str = r#"{"api_id":"db342550-7f1d-11e1-8ea7-1231380bc196","message":"message(s) queued","message_uuid":["db3ce55a-7f1d-11e1-8ea7-1231380bc196"]}"#;

/// Cases run one after the other: descriptors and memory are process-wide.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Panics anywhere in the process (handlers, connection tasks, the stand-in).
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

// ---------------------------------------------------------------------------------------------
// The misbehaving stand-in
// ---------------------------------------------------------------------------------------------

/// What the stand-in does with one request.
#[derive(Clone, Debug)]
enum Fault {
    /// Answers with this status, extra headers and body.
    Answer {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Bytes,
    },
    /// Waits, then answers 202 (an answer that comes after the service gave up).
    Slow(Duration),
    /// Sends the status line, headers and half the promised body, then resets the connection.
    ResetMidAnswer,
    /// Reads the request, then resets the connection without a byte of answer.
    ResetBeforeAnswer,
}

impl Fault {
    fn status(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        Self::Answer {
            status,
            headers: vec![("content-type", content_type.to_owned())],
            body: body.into(),
        }
    }

    fn json(status: u16, body: &Value) -> Self {
        Self::status(status, "application/json", body.to_string())
    }

    fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Self::Answer { headers, .. } = &mut self {
            headers.push((name, value.to_owned()));
        }
        self
    }
}

/// A Plivo stand-in that plays a script of faults: request n gets `script[n]`, and the last entry
/// repeats. Every answer closes its connection unless `keep_alive` is set.
struct StandIn {
    url: String,
    calls: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    async fn start(script: Vec<Fault>, keep_alive: bool) -> Self {
        assert!(!script.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let counter = calls.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let script = script.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let _ = serve_connection(stream, &script, &counter, keep_alive).await;
                });
            }
        });
        Self { url, calls, task }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one HTTP/1.1 request (headers and a `Content-Length` body); `None` at end of stream.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Option<()>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let total = end + 4 + length;
            while buf.len() < total {
                let mut chunk = [0u8; 8192];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(None);
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Ok(Some(()));
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    script: &[Fault],
    calls: &AtomicUsize,
    keep_alive: bool,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    while read_request(&mut stream, &mut buf).await?.is_some() {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        let fault = script[n.min(script.len() - 1)].clone();
        let (status, headers, body) = match fault {
            Fault::Answer {
                status,
                headers,
                body,
            } => (status, headers, body),
            Fault::Slow(delay) => {
                tokio::time::sleep(delay).await;
                (
                    202,
                    vec![("content-type", "application/json".to_owned())],
                    Bytes::from_static(ACCEPTED.as_bytes()),
                )
            }
            Fault::ResetMidAnswer => {
                let head = "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 400\r\n\r\n";
                stream.write_all(head.as_bytes()).await?;
                stream.write_all(&ACCEPTED.as_bytes()[..40]).await?;
                stream.flush().await?;
                tokio::time::sleep(Duration::from_millis(5)).await;
                stream.set_zero_linger()?;
                return Ok(());
            }
            Fault::ResetBeforeAnswer => {
                stream.set_zero_linger()?;
                return Ok(());
            }
        };
        let mut head = format!(
            "HTTP/1.1 {status} Whatever\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(if keep_alive {
            "\r\n"
        } else {
            "connection: close\r\n\r\n"
        });
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.flush().await?;
        if !keep_alive {
            return Ok(());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The service, and what the process holds
// ---------------------------------------------------------------------------------------------

struct Service {
    address: String,
    /// A client that keeps no idle connection, so every request's connection closes after it.
    client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn start_service(plivo_url: &str, overrides: &[(&str, &str)]) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/faults.db", dir.path().display());
    let mut vars: Vec<(String, String)> = [
        ("PLIVO_AUTH_ID", AUTH_ID),
        ("PLIVO_AUTH_TOKEN", "fault-token"),
        ("PLIVO_SENDER_NUMBER", "+14155550100"),
        ("PLIVO_API_BASE_URL", plivo_url),
        ("PLIVO_TIMEOUT_MS", "300"),
        ("PLIVO_MAX_RETRIES", "2"),
        ("PLIVO_RETRY_BASE_MS", "2"),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("DATABASE_URL", database.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in overrides {
        vars.retain(|(name, _)| name != k);
        vars.push(((*k).to_owned(), (*v).to_owned()));
    }
    let config = Config::from_lookup(false, |k| {
        vars.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    })
    .expect("fault-suite settings are valid");
    let app = Application::build(config).await.expect("app builds");
    let address = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    Service {
        address,
        client,
        _stop: stop,
        _dir: dir,
    }
}

fn valid_body() -> Value {
    json!({
        "recipientNumber": "+14155551234",
        "messageText": "fault suite",
        "mediaUrl": "https://example.com/cat.gif",
    })
}

/// One answer of the service, read whole.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    retry_after: Option<u64>,
    body: Value,
    raw_len: usize,
}

impl Service {
    async fn send(&self) -> Answer {
        let response = self
            .client
            .post(format!("{}/send-mms", self.address))
            .json(&valid_body())
            .send()
            .await
            .expect("the service answers");
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let retry_after = header("retry-after").and_then(|v| v.parse().ok());
        let bytes = response.bytes().await.expect("a whole body");
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "the service's answer is not JSON: {:?}",
                String::from_utf8_lossy(&bytes)
            )
        });
        Answer {
            status,
            content_type,
            retry_after,
            body,
            raw_len: bytes.len(),
        }
    }

    /// `total` sends, `concurrency` at a time; every answer is returned.
    async fn storm(&self, total: usize, concurrency: usize) -> Vec<Answer> {
        futures::stream::iter(0..total)
            .map(|_| self.send())
            .buffer_unordered(concurrency)
            .collect()
            .await
    }
}

/// The process's open file descriptors.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// A `/proc/self/status` value in KiB (`VmRSS`, `VmHWM`).
fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// What the process holds before a storm.
struct Level {
    fds: usize,
    rss_kib: u64,
}

fn level() -> Level {
    Level {
        fds: open_fds(),
        rss_kib: status_kib("VmRSS"),
    }
}

/// Waits (a bounded time) for the descriptors to come back to `before`, within `slack`, then
/// checks memory within `rss_slack_kib`.
async fn assert_back_to(before: &Level, slack: usize, rss_slack_kib: u64, case: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut fds = open_fds();
    while fds > before.fds + slack && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        fds = open_fds();
    }
    assert!(
        fds <= before.fds + slack,
        "{case}: open descriptors went from {} to {fds} and stayed there",
        before.fds
    );
    let rss = status_kib("VmRSS");
    assert!(
        rss <= before.rss_kib + rss_slack_kib,
        "{case}: resident memory went from {} KiB to {rss} KiB",
        before.rss_kib
    );
}

/// Checks an error answer against the contract: status, code, JSON, a sentence, no secret.
fn assert_error(answer: &Answer, status: u16, code: &str, case: &str) {
    assert_eq!(answer.status, status, "{case}: {answer:?}");
    assert_eq!(answer.content_type, "application/json", "{case}");
    assert_eq!(answer.body["code"], code, "{case}: {answer:?}");
    assert!(
        answer.body["error"].as_str().is_some_and(|s| !s.is_empty()),
        "{case}: {answer:?}"
    );
    let text = answer.body.to_string();
    assert!(!text.contains("fault-token"), "{case}: the token leaked");
    if status == 503 {
        assert!(
            answer.retry_after.is_some_and(|s| s >= 1),
            "{case}: a 503 carries Retry-After: {answer:?}"
        );
    }
}

/// Runs one fault case: warm-up answer checked, storm of `total` checked, then the leak checks.
async fn run_case(
    case: &str,
    script: Vec<Fault>,
    keep_alive: bool,
    overrides: &[(&str, &str)],
    total: usize,
    check: impl Fn(&Answer),
) -> StandIn {
    let _serial = SERIAL.lock().await;
    count_panics();
    let panics = PANICS.load(Ordering::SeqCst);
    let plivo = StandIn::start(script, keep_alive).await;
    let service = start_service(&plivo.url, overrides).await;
    // Warm-up: the first answer settles lazy state (pools, metadata) before the level is taken.
    check(&service.send().await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = level();
    for answer in service.storm(total, 16).await {
        check(&answer);
    }
    // Idle keep-alive connections may stay pooled (two descriptors each: both ends live in this
    // process), at most one per concurrent request.
    let slack = if keep_alive { 2 * 16 + 4 } else { 4 };
    // Memory: the process-wide RSS also holds what the allocator keeps after freeing (8 MiB
    // answers, the previous cases' SQLite page caches), so only a gross leak shows here; 24 MiB
    // of slack was seen exceeded once without any leak. The soak (`bench/soak.sh`) is the
    // fine-grained leak check.
    assert_back_to(&before, slack, 48 * 1024, case).await;
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        panics,
        "{case}: something panicked"
    );
    drop(service);
    plivo
}

// ---------------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_storm_of_5xx_is_503_after_all_attempts() {
    for (status, keep_alive) in [(500, false), (502, true), (503, false), (504, true)] {
        let case = format!("{status} storm");
        let plivo = run_case(
            &case,
            vec![Fault::json(
                status,
                &json!({"api_id": "x", "error": "internal error"}),
            )],
            keep_alive,
            &[],
            48,
            |a| assert_error(a, 503, "provider_unavailable", &case),
        )
        .await;
        // 1 + PLIVO_MAX_RETRIES attempts for every request: warm-up and storm.
        assert_eq!(plivo.calls(), 49 * 3, "{case}");
    }
}

#[tokio::test]
async fn a_storm_of_429_without_retry_after_is_retried_then_503() {
    let case = "429 without Retry-After";
    let plivo = run_case(
        case,
        vec![Fault::json(429, &json!({"error": "too many requests"}))],
        true,
        &[],
        32,
        |a| assert_error(a, 503, "provider_unavailable", case),
    )
    .await;
    // Each 429 pauses every sender for a second (no Retry-After), so the storm reaches Plivo far
    // less often than every request retrying on its own would (33 × 3 calls).
    let calls = plivo.calls();
    assert!((1..33 * 3).contains(&calls), "{calls} calls");
}

#[tokio::test]
async fn a_429_with_a_short_retry_after_is_honoured_then_succeeds() {
    let case = "429 with Retry-After: 1, then 202";
    let started = Instant::now();
    let plivo = run_case(
        case,
        vec![
            Fault::json(429, &json!({"error": "too many requests"}))
                .with_header("retry-after", "1"),
            Fault::status(202, "application/json", ACCEPTED),
        ],
        false,
        &[],
        8,
        |a| assert_eq!(a.status, 200, "{case}: {a:?}"),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_secs(1), "{case}");
    assert_eq!(plivo.calls(), 10);
}

#[tokio::test]
async fn a_storm_of_429_with_a_long_retry_after_stops_at_once_and_passes_it_on() {
    let case = "429 with Retry-After: 120";
    let plivo = run_case(
        case,
        vec![Fault::json(429, &json!({"error": "too many requests"}))
            .with_header("retry-after", "120")],
        true,
        &[],
        32,
        |a| {
            assert_error(a, 503, "provider_unavailable", case);
            assert!(
                a.retry_after.is_some_and(|s| (110..=120).contains(&s)),
                "{case}: {a:?}"
            );
        },
    )
    .await;
    // A Retry-After over 30 s ends the retries, and the 429 pauses the whole service for that
    // long: the first request is the only one that reaches Plivo.
    assert_eq!(plivo.calls(), 1);
}

#[tokio::test]
async fn answers_slower_than_the_timeout_are_504() {
    let case = "answers after the timeout";
    let started = Instant::now();
    let plivo = run_case(
        case,
        vec![Fault::Slow(Duration::from_millis(700))],
        false,
        &[("PLIVO_TIMEOUT_MS", "100"), ("PLIVO_MAX_RETRIES", "1")],
        32,
        |a| assert_error(a, 504, "provider_timeout", case),
    )
    .await;
    assert_eq!(plivo.calls(), 33 * 2);
    // 3 rounds of 2 × 100 ms at most, plus the wait for descriptors; never the stand-in's pace.
    assert!(started.elapsed() < Duration::from_secs(8), "{case}");
}

#[tokio::test]
async fn connections_reset_after_the_request_are_504_outcome_unknown() {
    // The request was written before the connection broke: Plivo may have it (README "Delivery
    // guarantees"), so the answer must not say "nothing was sent".
    for (case, fault) in [
        ("reset mid-answer", Fault::ResetMidAnswer),
        ("reset before answering", Fault::ResetBeforeAnswer),
    ] {
        let plivo = run_case(case, vec![fault], false, &[], 32, |a| {
            assert_error(a, 504, "provider_timeout", case)
        })
        .await;
        assert_eq!(plivo.calls(), 33 * 3, "{case}");
    }
}

#[tokio::test]
async fn garbage_success_bodies_are_502_and_never_resent() {
    let cases: Vec<(&str, Fault)> = vec![
        (
            "202 with garbage",
            Fault::status(202, "application/json", &b"\x00\xff{not json at all"[..]),
        ),
        (
            "202 with an empty body",
            Fault::status(202, "application/json", ""),
        ),
        (
            "202 with HTML",
            Fault::status(202, "text/html", "<html><body>Accepted</body></html>"),
        ),
        (
            "202 with JSON of the wrong shape",
            Fault::json(202, &json!({"message_uuid": "not-a-list", "api_id": 7})),
        ),
        (
            "200 with a JSON array",
            Fault::status(200, "application/json", "[1,2,3]"),
        ),
    ];
    for (case, fault) in cases {
        let plivo = run_case(case, vec![fault], true, &[], 16, |a| {
            assert_error(a, 502, "provider_error", case)
        })
        .await;
        // Plivo said 2xx: the message may be queued, so it is never sent again.
        assert_eq!(plivo.calls(), 17, "{case}");
    }
}

#[tokio::test]
async fn a_wrong_content_type_on_good_json_is_still_read() {
    let case = "202 JSON labelled text/plain";
    run_case(
        case,
        vec![Fault::status(202, "text/plain", ACCEPTED)],
        true,
        &[],
        16,
        |a| {
            assert_eq!(a.status, 200, "{case}: {a:?}");
            assert_eq!(
                a.body["messageUuid"],
                "db3ce55a-7f1d-11e1-8ea7-1231380bc196"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn html_and_garbage_error_answers_keep_their_meaning() {
    let cases: Vec<(&str, Fault, u16, &str)> = vec![
        (
            "400 with HTML",
            Fault::status(400, "text/html", "<html><h1>Bad Request</h1></html>"),
            422,
            "provider_rejected",
        ),
        (
            "401 with garbage",
            Fault::status(401, "application/octet-stream", &b"\x01\x02\xfe"[..]),
            502,
            "provider_auth_failed",
        ),
        (
            "503 with HTML from a proxy",
            Fault::status(503, "text/html", "<html>Service Unavailable</html>"),
            503,
            "provider_unavailable",
        ),
        (
            "418 with nothing",
            Fault::status(418, "text/plain", ""),
            502,
            "provider_error",
        ),
    ];
    for (case, fault, status, code) in cases {
        run_case(case, vec![fault], false, &[], 16, |a| {
            assert_error(a, status, code, case);
        })
        .await;
    }
}

#[tokio::test]
async fn huge_answers_neither_pass_through_nor_stay_in_memory() {
    const HUGE: usize = 8 * 1024 * 1024;
    let huge_error = json!({"api_id": "x", "error": "e".repeat(HUGE)});
    let cases: Vec<(&str, Fault, u16, &str)> = vec![
        (
            "202 with 8 MiB of garbage",
            Fault::status(202, "application/json", vec![b'x'; HUGE]),
            502,
            "provider_error",
        ),
        (
            "400 with an 8 MiB error text",
            Fault::json(400, &huge_error),
            422,
            "provider_rejected",
        ),
        (
            "500 with 8 MiB of HTML",
            Fault::status(500, "text/html", vec![b'<'; HUGE]),
            503,
            "provider_unavailable",
        ),
    ];
    for (case, fault, status, code) in cases {
        run_case(case, vec![fault], true, &[], 24, |a| {
            assert_error(a, status, code, case);
            // Whatever Plivo sends, our answer stays a small JSON document.
            assert!(a.raw_len < 16 * 1024, "{case}: a {} byte answer", a.raw_len);
        })
        .await;
    }
}
