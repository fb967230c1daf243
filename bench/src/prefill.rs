//! The store generator: writes realistic messages straight into a SQLite store the service has
//! already migrated (not through the HTTP API, which would take hours for millions).
//!
//! Each message looks like one the service stored: a UUIDv7-like id in creation order, one of
//! 100,000 recipients, a text of 40–120 characters, one media URL, Plivo's UUID, and its events
//! (`accepted`, `sending`, `queued`, then the final one). 95 % end `delivered`, 3 % `undelivered`
//! (error 30), 2 % `failed` (error 420); each ended a few seconds after it was created, the creation
//! times spread evenly over `days` days up to one hour ago. `status_counts` is filled to match.
//! The message table's secondary indexes are dropped during the load and built again after it
//! (sorting once is far faster than millions of random index inserts).

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rusqlite::{params, Connection};

/// splitmix64: a cheap, well-spread hash of `i`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn uuid_like(time_ms: u64, a: u64, b: u64, version: u8) -> String {
    let hi = if version == 7 {
        time_ms << 16 | (a & 0xfff) | 0x7000
    } else {
        a
    };
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        (hi & 0x0fff) | (u64::from(version) << 12),
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

const WORDS: &[&str] = &[
    "your",
    "order",
    "has",
    "shipped",
    "and",
    "will",
    "arrive",
    "tomorrow",
    "reply",
    "STOP",
    "to",
    "opt",
    "out",
    "thanks",
    "for",
    "shopping",
    "with",
    "us",
    "here",
    "is",
    "the",
    "photo",
    "you",
    "asked",
    "about",
    "appointment",
    "confirmed",
    "at",
    "pm",
];

fn text(seed: u64) -> String {
    let len = 40 + (seed % 81) as usize;
    let mut out = String::with_capacity(len + 12);
    let mut s = seed;
    while out.len() < len {
        s = mix(s);
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(WORDS[(s % WORDS.len() as u64) as usize]);
    }
    out
}

/// Adds `count` ended messages (and, with `pending`, messages still `sent` whose Plivo UUIDs are
/// `pending_uuid(0..pending)`, for a burst of status callbacks) to the store at `path`.
pub fn prefill(path: &Path, count: u64, days: f64, pending: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000; \
         PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = OFF;",
    )?;
    let indexes: Vec<(String, String)> = {
        let mut statement = conn.prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' \
             AND sql IS NOT NULL",
        )?;
        let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    // Only worth it for a big load (a few pending messages go in with the indexes in place).
    let rebuild = count > 0;
    if rebuild {
        for (name, _) in &indexes {
            conn.execute_batch(&format!("DROP INDEX {name}"))?;
        }
    }
    let end = now_micros() - 3_600_000_000;
    let span = (days * 86_400e6) as i64;
    let start = end - span;
    let step = if count > 0 { span / count as i64 } else { 0 };
    let mut counts = [0_i64; 3];
    let batch = 100_000;
    let mut i = 0;
    while i < count + pending {
        let tx = conn.transaction()?;
        {
            let mut message = tx.prepare_cached(
                "INSERT INTO messages (id, status, recipient_number, sender_number, message_text, \
                 media_urls, media_ids, message_uuid, error_code, error_message, outcome_unknown, \
                 created_at, updated_at, attempts, ended_at, redacted) \
                 VALUES (?1, ?2, ?3, '+14155550100', ?4, ?5, '[]', ?6, ?7, NULL, 0, ?8, ?9, 1, ?10, 0)",
            )?;
            let mut event = tx.prepare_cached(
                "INSERT INTO message_events (message_id, seq, status, at, error_code, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
            )?;
            for n in i..(i + batch).min(count + pending) {
                let h = mix(n);
                let is_pending = n >= count;
                let created = if is_pending {
                    end + (n - count) as i64
                } else {
                    start + n as i64 * step
                };
                let (status, code, slot) = if is_pending {
                    ("sent", None, None)
                } else {
                    match h % 100 {
                        0..=94 => ("delivered", None, Some(0)),
                        95..=97 => ("undelivered", Some("30"), Some(1)),
                        _ => ("failed", Some("420"), Some(2)),
                    }
                };
                if let Some(slot) = slot {
                    counts[slot] += 1;
                }
                let id = uuid_like((created / 1000) as u64, h, mix(h), 7);
                let uuid = if is_pending {
                    pending_uuid(n - count)
                } else {
                    uuid_like(0, mix(h ^ 1), mix(h ^ 2), 4)
                };
                let recipient = format!("+1415{:07}", mix(h ^ 3) % 100_000);
                let ended = (!is_pending).then_some(created + 2_000_000 + (h % 30_000_000) as i64);
                let updated = ended.unwrap_or(created + 500_000);
                let media = format!("[\"https://cdn.example.com/m/{:x}.jpg\"]", h % 1_000_000);
                message.execute(params![
                    id,
                    status,
                    recipient,
                    text(h),
                    media,
                    uuid,
                    code,
                    created,
                    updated,
                    ended
                ])?;
                let steps: [(&str, i64); 4] = [
                    ("accepted", created),
                    ("sending", created + 1_000),
                    ("queued", created + 400_000),
                    (status, updated),
                ];
                for (seq, (s, at)) in steps.iter().enumerate() {
                    let code = if seq == 3 { code } else { None };
                    event.execute(params![id, seq as i64 + 1, s, at, code])?;
                }
            }
        }
        tx.commit()?;
        i = (i + batch).min(count + pending);
        if i % 1_000_000 < batch {
            println!(
                "prefill: {i} messages in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    for (status, n) in ["delivered", "undelivered", "failed"].iter().zip(counts) {
        conn.execute(
            "INSERT INTO status_counts (status, shard, n) VALUES (?1, 0, ?2) \
             ON CONFLICT (status, shard) DO UPDATE SET n = n + excluded.n",
            params![status, n],
        )?;
    }
    let rebuilt = Instant::now();
    if rebuild {
        for (_, sql) in &indexes {
            conn.execute_batch(sql)?;
        }
    }
    // No ANALYZE: the service never runs it, so its queries must do without statistics.
    conn.execute_batch("PRAGMA journal_mode = WAL;")?;
    println!(
        "prefill: {} messages ({} pending) written in {:.0} s (indexes rebuilt in {:.0} s), file {:.2} GB",
        count + pending,
        pending,
        started.elapsed().as_secs_f64(),
        rebuilt.elapsed().as_secs_f64(),
        std::fs::metadata(path).map_or(0, |m| m.len()) as f64 / 1e9
    );
    Ok(())
}

/// The Plivo UUID of pending message `n` (a callback names it).
pub fn pending_uuid(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}
