//! Slow and silent clients (`src/http/listener.rs`): the request head has a deadline whatever the
//! client trickles, and a new client is answered while every connection slot is taken. Small limits:
//! four slots, a one-second head deadline.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const LIMITS: &[(&str, &str)] = &[
    ("MAX_CONNECTIONS", "4"),
    ("HEADER_READ_TIMEOUT_SECONDS", "1"),
    ("CONNECTION_IDLE_TIMEOUT_SECONDS", "60"),
];

fn host_port(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Opens a connection that sends a request line and then one header byte every 200 ms, for at most
/// `for_at_most`; returns how long the server let it go on (`None`: never closed).
async fn trickle(addr: String, for_at_most: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    let mut buf = [0u8; 256];
    while started.elapsed() < for_at_most {
        if stream.write_all(b"a").await.is_err() {
            return Some(started.elapsed());
        }
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {} // an error answer; the close follows
            Err(_) => {}    // nothing yet
        }
    }
    None
}

#[tokio::test]
async fn a_client_trickling_its_request_head_is_cut_off_at_the_deadline() {
    let app = spawn_app_with(LIMITS).await;
    let closed_after = trickle(host_port(&app), Duration::from_secs(8)).await;
    let closed_after = closed_after.expect("the trickling connection was never closed");
    assert!(closed_after < Duration::from_secs(4), "{closed_after:?}");
}

#[tokio::test]
async fn health_answers_while_every_slot_is_held_by_slow_and_silent_clients() {
    let app = spawn_app_with(LIMITS).await;
    let addr = host_port(&app);
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(tokio::spawn(trickle(addr.clone(), Duration::from_secs(12))));
    }
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(&addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Within HEADER_READ_TIMEOUT_SECONDS + 5 s.
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(6))
        .build()
        .expect("client");
    let health = client
        .get(format!("{}/health", app.address))
        .send()
        .await
        .expect("/health answered in time");
    assert_eq!(health.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(6));
    for task in held {
        task.abort();
    }
    drop(silent);
}

#[tokio::test]
async fn a_normal_keep_alive_client_is_not_cut_off() {
    let app = spawn_app_with(LIMITS).await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let r = client
            .get(format!("{}/health", app.address))
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status(), 200);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}
