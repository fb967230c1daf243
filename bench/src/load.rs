//! The load generator: a fixed number of kept-alive HTTP/1.1 connections, each sending one
//! request after another (closed loop) for a set time; latencies go to an HDR histogram.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One kind of request: what is sent and what answer is expected.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// `POST` (or `GET`, `DELETE`).
    pub method: &'static str,
    /// Path, e.g. `/send-mms`.
    pub path: String,
    /// Headers besides `host` and `content-length`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// The status that counts as success.
    pub expect: u16,
}

/// What a run measured.
#[derive(Debug)]
pub struct Outcome {
    /// Answers with the expected status, in the measured window.
    pub ok: u64,
    /// Answers with another status, by status, in the measured window.
    pub unexpected: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection refused, reset, …), in the measured window.
    pub transport_errors: u64,
    /// Latency of every answered request in the window, in microseconds.
    pub latency_us: Histogram<u64>,
    /// The measured window.
    pub elapsed: Duration,
}

impl Outcome {
    /// All answers, expected or not.
    pub fn answered(&self) -> u64 {
        self.ok + self.unexpected.values().sum::<u64>()
    }

    /// Requests a second that got the expected answer.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Unexpected answers plus transport errors.
    pub fn errors(&self) -> u64 {
        self.unexpected.values().sum::<u64>() + self.transport_errors
    }

    /// A latency quantile in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Sends one request on a fresh connection; the status and the body.
pub async fn probe(addr: SocketAddr, spec: &RequestSpec) -> anyhow::Result<(u16, Bytes)> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let response = sender.send_request(request(addr, spec)).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

fn request(addr: SocketAddr, spec: &RequestSpec) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(spec.method)
        .uri(spec.path.as_str())
        .header("host", addr.to_string());
    for (name, value) in &spec.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Full::new(spec.body.clone()))
        .expect("a valid request")
}

/// Runs `concurrency` connections for `warmup + duration`; only the last `duration` counts.
/// `mix` requests are used in turn on each connection; a mix with at least one request per
/// connection is dealt out so that no two connections send the same one (connection `i` of `n`
/// sends `i`, `i + n`, …).
pub async fn run(
    addr: SocketAddr,
    mix: &[RequestSpec],
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    assert!(!mix.is_empty());
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    let stride = if mix.len() >= concurrency {
        concurrency
    } else {
        1
    };
    for worker in 0..concurrency {
        let mix = mix.to_vec();
        tasks.push(tokio::spawn(async move {
            connection_loop(addr, mix, worker, stride, measure_from, end).await
        }));
    }
    let mut total = Outcome {
        ok: 0,
        unexpected: BTreeMap::new(),
        transport_errors: 0,
        latency_us: Histogram::new_with_bounds(1, 120_000_000, 3)?,
        elapsed: duration,
    };
    for task in tasks {
        let part = task.await??;
        total.ok += part.ok;
        total.transport_errors += part.transport_errors;
        for (status, n) in part.unexpected {
            *total.unexpected.entry(status).or_default() += n;
        }
        total.latency_us.add(&part.latency_us)?;
    }
    Ok(total)
}

async fn connection_loop(
    addr: SocketAddr,
    mix: Vec<RequestSpec>,
    worker: usize,
    stride: usize,
    measure_from: Instant,
    end: Instant,
) -> anyhow::Result<Outcome> {
    let mut out = Outcome {
        ok: 0,
        unexpected: BTreeMap::new(),
        transport_errors: 0,
        latency_us: Histogram::new_with_bounds(1, 120_000_000, 3)?,
        elapsed: end - measure_from,
    };
    let mut turn = worker;
    'connect: while Instant::now() < end {
        let connected = async {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            anyhow::Ok(sender)
        };
        let mut sender = match tokio::time::timeout_at(end.into(), connected).await {
            Ok(Ok(sender)) => sender,
            Ok(Err(_)) => {
                if Instant::now() >= measure_from {
                    out.transport_errors += 1;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(_) => break,
        };
        loop {
            let sent_at = Instant::now();
            if sent_at >= end {
                break 'connect;
            }
            let spec = &mix[turn % mix.len()];
            turn += stride;
            // A connection the server closed between requests (keep-alive limit, idle timeout)
            // is not an error: connect again.
            if sender.ready().await.is_err() {
                continue 'connect;
            }
            let exchange = async {
                let response = sender.send_request(request(addr, spec)).await?;
                let status = response.status().as_u16();
                response.into_body().collect().await?;
                anyhow::Ok(status)
            };
            // An answer still pending at the end of the window is abandoned, not counted.
            let result = match tokio::time::timeout_at(end.into(), exchange).await {
                Ok(result) => result,
                Err(_) => break 'connect,
            };
            let counted = sent_at >= measure_from;
            match result {
                Ok(status) => {
                    if counted {
                        let us = sent_at.elapsed().as_micros() as u64;
                        out.latency_us.saturating_record(us.max(1));
                        if status == spec.expect {
                            out.ok += 1;
                        } else {
                            *out.unexpected.entry(status).or_default() += 1;
                        }
                    }
                }
                Err(_) => {
                    if counted {
                        out.transport_errors += 1;
                    }
                    continue 'connect;
                }
            }
        }
    }
    Ok(out)
}
