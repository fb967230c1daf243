//! `mms-bench scale`: the same load on an empty store and on a store pre-filled with millions of
//! messages, side by side in one run, then a purge of a fifth of the big store while sync sends run.
//!
//! ```text
//! mms-bench scale --service PATH [--messages 5000000] [--days 50] [--purge-days 40]
//!                 [--pending 300000] [--concurrency 64] [--duration 8] [--warmup 2]
//! ```
//!
//! For each store (`empty`, then the big one): the service migrates a fresh SQLite file, the
//! generator (`prefill.rs`) writes the messages straight into it, and a release service
//! (`RETENTION_DAYS=36500`: nothing is purged yet) answers, in order: `sync`, `async` (then the
//! outbox drains), `GET /messages` unfiltered, by `status`, by `recipientNumber`, and `GET /metrics`.
//! Then `pending` messages still `sent` are added (the same number to both stores) and a burst of
//! signed status callbacks moves them to `delivered`, each callback naming another message. Last,
//! the big store restarts with `RETENTION_DAYS=purge-days` (the oldest fifth of a 50-day spread):
//! the purge starts at once, and `sync` runs during it; the p99 is compared with `sync` on the same
//! store without a purge.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::load::{self, Outcome, RequestSpec};
use crate::prefill::{pending_uuid, prefill};
use crate::{start_service, start_stand_in, temp_dir, Opts, Proc};

const TOKEN: &str = "bench-token";
const PUBLIC: &str = "https://mms.example.com";

fn post(path: &str, body: &str, headers: &[(&str, &str)], expect: u16) -> RequestSpec {
    RequestSpec {
        method: "POST",
        path: path.to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body: Bytes::from(body.to_owned()),
        expect,
    }
}

fn get(path: &str) -> RequestSpec {
    RequestSpec {
        method: "GET",
        path: path.to_owned(),
        headers: Vec::new(),
        body: Bytes::new(),
        expect: 200,
    }
}

const SEND: &str = r#"{"recipientNumber": "+14155551234", "messageText": "Hello from the benchmark", "mediaUrl": "https://example.com/cat.gif"}"#;

/// The measured scenarios of the first phase, in order.
fn scenarios() -> Vec<(&'static str, RequestSpec)> {
    let json = ("content-type", "application/json");
    vec![
        ("sync", post("/send-mms", SEND, &[json], 200)),
        (
            "async",
            post("/send-mms", SEND, &[json, ("prefer", "respond-async")], 202),
        ),
        ("GET /messages", get("/messages?limit=50")),
        (
            "GET /messages?status=",
            get("/messages?status=queued&limit=50"),
        ),
        (
            "GET /messages?recipientNumber=",
            get("/messages?recipientNumber=%2B14155551234&limit=50"),
        ),
        ("GET /metrics", get("/metrics")),
    ]
}

/// A Plivo status callback moving pending message `n` to `delivered`, signed with V3 (docs/plivo-api.md §5).
fn callback(n: u64) -> RequestSpec {
    let uuid = pending_uuid(n);
    let params = [
        ("ErrorCode", ""),
        ("From", "14155550100"),
        ("MessageUUID", uuid.as_str()),
        ("Status", "delivered"),
        ("To", "14155551234"),
        ("Type", "mms"),
    ];
    let nonce = format!(
        "{:020}",
        n.wrapping_mul(2_654_435_761) % 100_000_000_000_000_000
    );
    let signed: String = params.iter().map(|(k, v)| format!("{k}{v}")).collect();
    let message = format!("{PUBLIC}/webhooks/plivo/status?{signed}.{nonce}");
    let mut mac = Hmac::<Sha256>::new_from_slice(TOKEN.as_bytes()).expect("any key length");
    mac.update(message.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let body: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('+', "%2B")))
        .collect();
    post(
        "/webhooks/plivo/status",
        &body.join("&"),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-plivo-signature-v3", &signature),
            ("x-plivo-signature-v3-nonce", &nonce),
        ],
        200,
    )
}

struct Settings {
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
}

fn measure(
    rt: &tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    mix: &[RequestSpec],
    s: &Settings,
) -> anyhow::Result<Outcome> {
    let (status, body) = rt.block_on(load::probe(addr, &mix[mix.len() - 1]))?;
    if status != mix[0].expect {
        bail!(
            "probe of {} got {status}: {}",
            mix[0].path,
            String::from_utf8_lossy(&body[..body.len().min(200)])
        );
    }
    rt.block_on(load::run(addr, mix, s.concurrency, s.warmup, s.duration))
}

/// Waits (at most 60 s) until `GET /ready` answers 200: the store is open and migrated.
fn wait_ready(rt: &tokio::runtime::Runtime, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok((200, _)) = rt.block_on(load::probe(addr, &get("/ready"))) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("the service at {addr} was not ready within 60 s")
}

/// Waits (at most `limit`) until `GET /metrics` shows an empty outbox.
fn drain(rt: &tokio::runtime::Runtime, addr: std::net::SocketAddr, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok((_, body)) = rt.block_on(load::probe(addr, &get("/metrics"))) {
            let text = String::from_utf8_lossy(&body);
            if text.lines().any(|l| l == "mms_gateway_queue_depth 0") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    println!("  (the outbox did not drain within {} s)", limit.as_secs());
}

fn service(
    binary: &Path,
    plivo: std::net::SocketAddr,
    dir: &Path,
    retention_days: &str,
    log: Option<&str>,
) -> anyhow::Result<(Proc, std::net::SocketAddr)> {
    let env = [
        ("RUST_LOG", "info".to_owned()),
        ("PUBLIC_BASE_URL", PUBLIC.to_owned()),
        ("RETENTION_DAYS", retention_days.to_owned()),
        ("PURGE_INTERVAL_SECONDS", "86400".to_owned()),
    ];
    start_service(binary, plivo, dir, &env, log)
}

fn row(name: &str, empty: &Outcome, big: &Outcome) -> String {
    let ratio = empty.rps() / big.rps().max(1e-9);
    format!(
        "| {name} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2}× | {:.2}× | {:.2}× | {} / {} |",
        empty.rps(),
        empty.ms(0.5),
        empty.ms(0.99),
        big.rps(),
        big.ms(0.5),
        big.ms(0.99),
        ratio,
        big.ms(0.5) / empty.ms(0.5).max(1e-9),
        big.ms(0.99) / empty.ms(0.99).max(1e-9),
        empty.errors(),
        big.errors()
    )
}

pub fn run(opts: &Opts) -> anyhow::Result<()> {
    let binary = opts.service()?;
    let messages: u64 = opts.num("messages", 5_000_000)?;
    let days: f64 = opts.num("days", 50.0)?;
    let purge_days: f64 = opts.num("purge-days", 40.0)?;
    let pending: u64 = opts.num("pending", 300_000)?;
    let s = Settings {
        concurrency: opts.num("concurrency", 64)?,
        warmup: Duration::from_secs_f64(opts.num("warmup", 2.0)?),
        duration: Duration::from_secs_f64(opts.num("duration", 8.0)?),
    };
    let dir = temp_dir("scale")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let (_stand_in, plivo) = start_stand_in(false)?;
    println!(
        "mms-bench scale: {messages} messages over {days} days; {} connections, {:.0} s warm-up + {:.0} s per scenario",
        s.concurrency,
        s.warmup.as_secs_f64(),
        s.duration.as_secs_f64()
    );

    let mut results: Vec<Vec<(String, Outcome)>> = Vec::new();
    for (label, count) in [("empty", 0), ("big", messages)] {
        let store = dir.join(label);
        std::fs::create_dir_all(&store)?;
        let (p, addr) = service(&binary, plivo, &store, "36500", None)?;
        wait_ready(&rt, addr)?; // migrated
        drop(p);
        prefill(&store.join("bench.db"), count, days, 0)
            .map_err(|e| anyhow::anyhow!("prefill: {e:?}"))?;
        let mut measured = Vec::new();
        let (p, addr) = service(&binary, plivo, &store, "36500", None)?;
        wait_ready(&rt, addr)?;
        for (name, spec) in scenarios() {
            let outcome = measure(&rt, addr, std::slice::from_ref(&spec), &s)?;
            println!(
                "{label} {name}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
                outcome.rps(),
                outcome.ms(0.5),
                outcome.ms(0.99),
                outcome.errors()
            );
            measured.push((name.to_owned(), outcome));
            if name == "async" {
                drain(&rt, addr, Duration::from_secs(120));
            }
        }
        drop(p);
        prefill(&store.join("bench.db"), 0, days, pending).context("pending")?;
        let (p, addr) = service(&binary, plivo, &store, "36500", None)?;
        wait_ready(&rt, addr)?;
        let burst: Vec<RequestSpec> = (0..pending).map(callback).collect();
        let outcome = measure(&rt, addr, &burst, &s)?;
        let sent = outcome.answered() as f64 * (s.warmup + s.duration).as_secs_f64()
            / s.duration.as_secs_f64();
        if sent > pending as f64 {
            println!("  (more callbacks than pending messages: some repeated one already applied)");
        }
        println!(
            "{label} callbacks: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
            outcome.rps(),
            outcome.ms(0.5),
            outcome.ms(0.99),
            outcome.errors()
        );
        measured.push(("status callbacks (burst)".to_owned(), outcome));
        drop(p);
        results.push(measured);
    }

    // The purge: the big store restarts with a retention that makes its oldest fifth due.
    let big = dir.join("big");
    let log = big.join("service.log");
    let log_path = log.to_str().context("utf-8 path")?.to_owned();
    let (p, addr) = service(
        &binary,
        plivo,
        &big,
        &purge_days.to_string(),
        Some(&log_path),
    )?;
    wait_ready(&rt, addr)?;
    let started = Instant::now();
    let during = measure(
        &rt,
        addr,
        &[post(
            "/send-mms",
            SEND,
            &[("content-type", "application/json")],
            200,
        )],
        &s,
    )?;
    let window = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(1800);
    let purge_line = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("retention.purge")) {
            break Some(line.to_owned());
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let after = measure(
        &rt,
        addr,
        &[post(
            "/send-mms",
            SEND,
            &[("content-type", "application/json")],
            200,
        )],
        &s,
    )?;
    drop(p);

    println!();
    println!("| scenario | empty req/s | p50 ms | p99 ms | {messages} req/s | p50 ms | p99 ms | throughput empty/big | p50 big/empty | p99 big/empty | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for ((name, empty), (_, big)) in results[0].iter().zip(&results[1]) {
        println!("{}", row(name, empty, big));
    }
    let sync_big = &results[1][0].1;
    println!();
    println!(
        "purge: {}",
        purge_line
            .as_deref()
            .unwrap_or("did not finish within 30 minutes")
    );
    println!(
        "sync during the purge (first {:.0} s after start): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {}; \
         without a purge (big store): p99 {:.2} ms → {:.2}×; after the purge: {:.0} req/s, p99 {:.2} ms",
        window.as_secs_f64(),
        during.rps(),
        during.ms(0.5),
        during.ms(0.99),
        during.errors(),
        sync_big.ms(0.99),
        during.ms(0.99) / sync_big.ms(0.99).max(1e-9),
        after.rps(),
        after.ms(0.99)
    );
    let metrics_big = results[1]
        .iter()
        .find(|(n, _)| n == "GET /metrics")
        .map(|(_, o)| o.ms(0.5));
    println!(
        "GET /metrics on the big store: p50 {:.2} ms (target < 20 ms)",
        metrics_big.unwrap_or(f64::NAN)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
