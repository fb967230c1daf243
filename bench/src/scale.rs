//! `mms-bench scale`: the same load on an empty store and on a store pre-filled with millions of
//! messages, side by side in one run, then a purge of a fifth of the big store while sync sends run.
//!
//! ```text
//! mms-bench scale --service PATH [--messages 5000000] [--days 50] [--purge-days 40]
//!                 [--pending 300000] [--concurrency 64] [--duration 8] [--warmup 2]
//! ```
//!
//! The generator (`prefill.rs`) writes the messages straight into each store once the service has
//! migrated it. Then both services run at once (`RETENTION_DAYS=36500`: nothing is purged yet) and
//! each scenario alternates between them, empty, big, big, empty, half the time each, so that the
//! load of other work on the machine falls on both alike: `sync`, `async` (then the outbox drains),
//! `GET /messages` unfiltered, by `status`, by `recipientNumber`, by both (a person's delivered
//! messages), `GET /metrics` at full concurrency and with one scraper. Beside each latency, the
//! service's CPU time per request, which other people's load moves far less. Then `pending`
//! messages still `sent` are added to both stores and a burst of signed status callbacks moves them
//! to `delivered`, each callback naming another message. Last, `sync` on the big store, then the
//! big store restarts with `RETENTION_DAYS=purge-days` (the oldest fifth of a 50-day spread): the
//! purge starts at once, `sync` runs in back-to-back windows while it does, and its p99 is compared
//! with `sync` just before.
//!
//! `mms-bench prefill` keeps a generated store and `mms-bench get` loads a running service with one
//! scenario, to measure or profile one figure by hand.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::load::{self, Outcome, RequestSpec};
use crate::prefill::{pending_uuid, prefill};
use crate::{cpu_of, start_service, start_stand_in, temp_dir, Opts, Proc};

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
        // Two filters: a person with a few messages, all delivered (one of the generator's
        // recipients; on the empty store, no message matches).
        (
            "GET /messages?recipientNumber=&status=delivered",
            get("/messages?recipientNumber=%2B14150001234&status=delivered&limit=50"),
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

#[derive(Clone, Copy)]
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

/// What one scenario measured on one store: the load's outcome and the service's CPU time.
struct Measured {
    outcome: Outcome,
    cpu: Duration,
}

impl Measured {
    /// The service's CPU time per answered request, in milliseconds.
    fn cpu_ms(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e3 / (self.outcome.answered() as f64).max(1.0)
    }

    /// Both halves of one store's measurement as one (counts and histograms added).
    fn merge(mut self, other: Measured) -> anyhow::Result<Measured> {
        let (a, b) = (&mut self.outcome, other.outcome);
        a.ok += b.ok;
        a.transport_errors += b.transport_errors;
        for (status, n) in b.unexpected {
            *a.unexpected.entry(status).or_default() += n;
        }
        a.latency_us.add(&b.latency_us)?;
        a.elapsed += b.elapsed;
        self.cpu += other.cpu;
        Ok(self)
    }
}

/// One of the two stores, with its service running.
struct Store {
    proc_: Proc,
    addr: std::net::SocketAddr,
}

impl Store {
    fn start(binary: &Path, plivo: std::net::SocketAddr, dir: &Path) -> anyhow::Result<Store> {
        let (proc_, addr) = service(binary, plivo, dir, "36500", None)?;
        Ok(Store { proc_, addr })
    }

    /// `mix` at `concurrency` connections; the service's CPU time over the whole run (warm-up
    /// included, so it is scaled to the measured window).
    fn measure(
        &self,
        rt: &tokio::runtime::Runtime,
        mix: &[RequestSpec],
        s: &Settings,
    ) -> anyhow::Result<Measured> {
        let pid = [self.proc_.pid()];
        let before = cpu_of(&pid);
        let outcome = measure(rt, self.addr, mix, s)?;
        let cpu = (cpu_of(&pid) - before)
            .mul_f64(s.duration.as_secs_f64() / (s.warmup + s.duration).as_secs_f64());
        Ok(Measured { outcome, cpu })
    }
}

/// Each scenario on both stores in the order empty, big, big, empty (each run half as long), so a
/// change in the machine's load during the pair (other people compile on the same cores) falls on
/// both alike; `after` runs after each (the outbox's drain after `async`).
fn side_by_side(
    rt: &tokio::runtime::Runtime,
    stores: &[Store; 2],
    mixes: [&[RequestSpec]; 4],
    s: &Settings,
    after: impl Fn(&Store),
) -> anyhow::Result<[Measured; 2]> {
    let half = Settings {
        concurrency: s.concurrency,
        warmup: s.warmup / 2,
        duration: s.duration / 2,
    };
    let mut runs: [Vec<Measured>; 2] = [Vec::new(), Vec::new()];
    for (turn, which) in [0, 1, 1, 0].into_iter().enumerate() {
        runs[which].push(stores[which].measure(rt, mixes[turn], &half)?);
        after(&stores[which]);
    }
    let [empty, big] = runs;
    let merge = |mut v: Vec<Measured>| {
        let second = v.pop().expect("two runs");
        v.pop().expect("two runs").merge(second)
    };
    Ok([merge(empty)?, merge(big)?])
}

fn row(name: &str, empty: &Measured, big: &Measured) -> String {
    let (e, b) = (&empty.outcome, &big.outcome);
    format!(
        "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2}× | {:.2}× | {:.2}× | {:.2}× | {} / {} |",
        e.rps(),
        e.ms(0.5),
        e.ms(0.99),
        empty.cpu_ms(),
        b.rps(),
        b.ms(0.5),
        b.ms(0.99),
        big.cpu_ms(),
        e.rps() / b.rps().max(1e-9),
        b.ms(0.5) / e.ms(0.5).max(1e-9),
        b.ms(0.99) / e.ms(0.99).max(1e-9),
        big.cpu_ms() / empty.cpu_ms().max(1e-9),
        e.errors(),
        b.errors()
    )
}

fn print(label: &str, m: &Measured) {
    let o = &m.outcome;
    println!(
        "{label}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, service CPU {:.3} ms/request, errors {}",
        o.rps(),
        o.ms(0.5),
        o.ms(0.99),
        m.cpu_ms(),
        o.errors()
    );
}

/// The load average of the machine (1, 5 and 15 minutes), as `/proc/loadavg` gives it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `mms-bench prefill --service PATH --dir DIR [--messages N] [--days D] [--pending P]`: a store
/// (`DIR/bench.db`) migrated by the service and filled by the generator, kept for measuring by hand.
pub fn prefill_store(opts: &Opts) -> anyhow::Result<()> {
    let binary = opts.service()?;
    let dir = std::path::PathBuf::from(opts.get("dir").context("--dir DIR is required")?);
    std::fs::create_dir_all(&dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let (_stand_in, plivo) = start_stand_in(false)?;
    let (p, addr) = service(&binary, plivo, &dir, "36500", None)?;
    wait_ready(&rt, addr)?; // migrated
    drop(p);
    prefill(
        &dir.join("bench.db"),
        opts.num("messages", 5_000_000)?,
        opts.num("days", 50.0)?,
        opts.num("pending", 0)?,
    )
}

/// `mms-bench get --addr HOST:PORT --path PATH [--concurrency 64] [--duration 8] [--warmup 2]`:
/// the closed-loop load of one scenario of `scale` (`--path sync`, `async`, or any GET path) against
/// a service already running, to measure (or profile) it by hand on a store kept by `prefill`.
pub fn get_load(opts: &Opts) -> anyhow::Result<()> {
    let addr: std::net::SocketAddr = opts.get("addr").context("--addr HOST:PORT")?.parse()?;
    let path = opts
        .get("path")
        .context("--path /messages?... or sync or async")?;
    let spec = scenarios()
        .into_iter()
        .find(|(name, _)| *name == path)
        .map_or_else(|| get(path), |(_, spec)| spec);
    let s = Settings {
        concurrency: opts.num("concurrency", 64)?,
        warmup: Duration::from_secs_f64(opts.num("warmup", 2.0)?),
        duration: Duration::from_secs_f64(opts.num("duration", 8.0)?),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let outcome = measure(&rt, addr, &[spec], &s)?;
    println!(
        "{path}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
        outcome.rps(),
        outcome.ms(0.5),
        outcome.ms(0.99),
        outcome.errors()
    );
    Ok(())
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
    let started = Instant::now();
    println!(
        "mms-bench scale: {messages} messages over {days} days; {} connections, {:.0} s warm-up + {:.0} s per scenario and store; load average {}",
        s.concurrency,
        s.warmup.as_secs_f64(),
        s.duration.as_secs_f64(),
        load_average()
    );

    // The stores: each migrated by the service, then filled by the generator.
    let labels = ["empty", "big"];
    let dirs = labels.map(|label| dir.join(label));
    for (store, count) in dirs.iter().zip([0, messages]) {
        std::fs::create_dir_all(store)?;
        let (p, addr) = service(&binary, plivo, store, "36500", None)?;
        wait_ready(&rt, addr)?; // migrated
        drop(p);
        prefill(&store.join("bench.db"), count, days, 0)
            .map_err(|e| anyhow::anyhow!("prefill: {e:?}"))?;
    }

    // Both services run at once; each scenario alternates between them.
    let mut results: Vec<(String, [Measured; 2])> = Vec::new();
    let start_both = || -> anyhow::Result<[Store; 2]> {
        let stores = [
            Store::start(&binary, plivo, &dirs[0])?,
            Store::start(&binary, plivo, &dirs[1])?,
        ];
        for store in &stores {
            wait_ready(&rt, store.addr)?;
        }
        Ok(stores)
    };
    let stores = start_both()?;
    for (name, spec, single) in scenarios()
        .into_iter()
        .map(|(name, spec)| (name, spec, false))
        .chain(std::iter::once((
            "GET /metrics (one scraper)",
            get("/metrics"),
            true,
        )))
    {
        let one = std::slice::from_ref(&spec);
        let settings = Settings {
            concurrency: if single { 1 } else { s.concurrency },
            ..s
        };
        let is_async = name == "async";
        let pair = side_by_side(&rt, &stores, [one; 4], &settings, |store| {
            if is_async {
                drain(&rt, store.addr, Duration::from_secs(120));
            }
        })?;
        for (label, m) in labels.iter().zip(&pair) {
            print(&format!("{label} {name}"), m);
        }
        println!("  (load average {})", load_average());
        results.push((name.to_owned(), pair));
    }
    drop(stores);

    // A burst of status callbacks, each naming another pending message: the pending messages of
    // each of the four runs are their own quarter.
    for store in &dirs {
        prefill(&store.join("bench.db"), 0, days, pending).context("pending")?;
    }
    let stores = start_both()?;
    let quarter = pending / 4;
    let bursts: Vec<Vec<RequestSpec>> = (0..4)
        .map(|q| (q * quarter..(q + 1) * quarter).map(callback).collect())
        .collect();
    let pair = side_by_side(
        &rt,
        &stores,
        [&bursts[0], &bursts[1], &bursts[2], &bursts[3]],
        &s,
        |_| {},
    )?;
    for (label, m) in labels.iter().zip(&pair) {
        let sent = m.outcome.answered() as f64 * (s.warmup + s.duration).as_secs_f64()
            / s.duration.as_secs_f64();
        if sent > 2.0 * quarter as f64 {
            println!("  ({label}: more callbacks than pending messages: some repeated one already applied)");
        }
        print(&format!("{label} callbacks"), m);
    }
    results.push(("status callbacks (burst)".to_owned(), pair));
    drop(stores);

    // The purge: the big store restarts with a retention that makes its oldest fifth due.
    let big = &dirs[1];
    let sync = [post(
        "/send-mms",
        SEND,
        &[("content-type", "application/json")],
        200,
    )];
    // What the purge is measured against: the same sync load on the same store just before it.
    let before = {
        let store = Store::start(&binary, plivo, big)?;
        wait_ready(&rt, store.addr)?;
        store.measure(&rt, &sync, &s)?
    };
    print("big sync before the purge", &before);
    let log = big.join("service.log");
    let log_path = log.to_str().context("utf-8 path")?.to_owned();
    let (p, addr) = service(
        &binary,
        plivo,
        big,
        &purge_days.to_string(),
        Some(&log_path),
    )?;
    let purging = Store { proc_: p, addr };
    wait_ready(&rt, addr)?;
    let purge_started = Instant::now();
    let purge_done = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains("retention.purge"))
            .map(str::to_owned)
    };
    // Sync windows back to back while the purge runs (at most 10 of them).
    let mut during: Option<Measured> = None;
    for _ in 0..10 {
        if purge_done().is_some() {
            break;
        }
        let m = purging.measure(&rt, &sync, &s)?;
        print("  sync during the purge (one window)", &m);
        during = Some(match during {
            None => m,
            Some(d) => d.merge(m)?,
        });
    }
    let window = purge_started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(3600);
    let purge_line = loop {
        if let Some(line) = purge_done() {
            break Some(line);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let after = purging.measure(&rt, &sync, &s)?;
    drop(purging);

    println!();
    println!("| scenario | empty req/s | p50 ms | p99 ms | CPU ms/req | {messages} req/s | p50 ms | p99 ms | CPU ms/req | throughput empty/big | p50 big/empty | p99 big/empty | CPU big/empty | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, [empty, big]) in &results {
        println!("{}", row(name, empty, big));
    }
    println!();
    println!(
        "purge: {}",
        purge_line
            .as_deref()
            .unwrap_or("did not finish within an hour")
    );
    if let Some(during) = &during {
        let (d, b) = (&during.outcome, &before.outcome);
        println!(
            "sync during the purge (the first {:.0} s after start): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {}; \
             just before it (same store): {:.0} req/s, p99 {:.2} ms → p99 {:.2}×; after the purge: {:.0} req/s, p99 {:.2} ms",
            window.as_secs_f64(),
            d.rps(),
            d.ms(0.5),
            d.ms(0.99),
            d.errors(),
            b.rps(),
            b.ms(0.99),
            d.ms(0.99) / b.ms(0.99).max(1e-9),
            after.outcome.rps(),
            after.outcome.ms(0.99)
        );
    } else {
        println!("the purge ended before a window of sync sends could run during it");
    }
    if let Some((_, [_, big])) = results
        .iter()
        .find(|(n, _)| n == "GET /metrics (one scraper)")
    {
        println!(
            "GET /metrics on the big store, one scraper: p50 {:.2} ms, p99 {:.2} ms (target < 20 ms)",
            big.outcome.ms(0.5),
            big.outcome.ms(0.99)
        );
    }
    println!(
        "whole run: {:.0} s; load average at the end {}",
        started.elapsed().as_secs_f64(),
        load_average()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
