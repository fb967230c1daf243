//! A Plivo stand-in: answers every request with Plivo's documented 202 JSON (a new message UUID
//! each time).
//!
//! It runs on one thread (a current-thread Tokio runtime), so it takes at most one core and
//! leaves the rest to what is measured; it does far less per request than the service (no
//! parsing, no outbound call), so it is never the bottleneck. In `faults` mode it misbehaves on a
//! fixed rhythm (5xx, 429, slow answers, dropped connections), for the soak.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Plivo's documented 202 body, with a message UUID of its own for each answer (as Plivo gives):
/// the `n`-th answer's UUID ends in `n`. A fixed UUID would make every stored message share one,
/// which no real account sees and which makes lookups by UUID scan every message.
fn accepted(n: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"api_id":"db342550-7f1d-11e1-8ea7-1231380bc196","message":"message(s) queued","message_uuid":["db3ce55a-7f1d-11e1-8ea7-{:012x}"]}}"#,
        n & 0xffff_ffff_ffff
    ))
}

/// How the stand-in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Always 202 with Plivo's body.
    Fixed,
    /// Mostly 202, with a fixed rhythm of faults.
    Faults,
}

/// Serves on `listener` forever (the process is stopped by the harness).
pub async fn serve(listener: TcpListener, mode: Mode) -> anyhow::Result<()> {
    let counter = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let counter = counter.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, mode, counter.clone()));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    req: Request<Incoming>,
    mode: Mode,
    counter: Arc<AtomicU64>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    // Read the whole body, so the connection can be kept alive.
    let _ = req.into_body().collect().await;
    let n = counter.fetch_add(1, Ordering::Relaxed);
    if mode == Mode::Faults {
        match n % 100 {
            // A 5xx storm of three in a row.
            7..=9 => {
                return Ok(json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &br#"{"error":"internal error"}"#[..],
                ))
            }
            // 429 with a short Retry-After, and one without.
            21 => {
                let mut r = json(
                    StatusCode::TOO_MANY_REQUESTS,
                    &br#"{"error":"too many requests"}"#[..],
                );
                r.headers_mut().insert("retry-after", "0".parse().unwrap());
                return Ok(r);
            }
            22 => {
                return Ok(json(
                    StatusCode::TOO_MANY_REQUESTS,
                    &br#"{"error":"too many requests"}"#[..],
                ))
            }
            // Slower than the service's PLIVO_TIMEOUT_MS in the soak.
            33 => tokio::time::sleep(Duration::from_millis(600)).await,
            // Drop the connection without an answer.
            44 => return Err(std::io::Error::other("dropped on purpose")),
            // Garbage with a success status, and HTML from a "proxy".
            55 => return Ok(json(StatusCode::ACCEPTED, &b"\x00garbage"[..])),
            66 => {
                let mut r = json(StatusCode::BAD_GATEWAY, &b"<html>Bad Gateway</html>"[..]);
                r.headers_mut()
                    .insert("content-type", "text/html".parse().unwrap());
                return Ok(r);
            }
            _ => {}
        }
    }
    Ok(json(StatusCode::ACCEPTED, accepted(n)))
}

fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .expect("a valid response")
}

/// Binds `addr` and serves on a current-thread runtime (blocks the calling thread).
pub fn run_blocking(addr: SocketAddr, mode: Mode) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(addr).await?;
        serve(listener, mode).await
    })
}
