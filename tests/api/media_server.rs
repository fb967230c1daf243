//! A local media host for the preflight tests: each path answers one way, and every request is
//! logged as "METHOD /path range".

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

pub struct MediaServer {
    pub base: String,
    pub log: Log,
}

impl MediaServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn file(content_type: &'static str, size: usize) -> Response {
    ([(header::CONTENT_TYPE, content_type)], vec![0u8; size]).into_response()
}

async fn logged(
    State(log): State<Log>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    log.0
        .lock()
        .unwrap()
        .push(format!("{method} {} {range}", uri.path()));
    let ranged = range == "bytes=0-0";
    match uri.path() {
        "/ok.gif" => file("image/gif", 1000),
        "/card.vcf" => file("text/vcard", 300),
        "/big.jpg" => file("image/jpeg", 2_000_001),
        "/1900k.jpg" => file("image/jpeg", 1_900_000),
        "/page.html" => file("text/html; charset=utf-8", 100),
        "/untyped" => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            vec![0u8; 10],
        )
            .into_response(),
        "/no-head.png" if method == axum::http::Method::HEAD => {
            StatusCode::METHOD_NOT_ALLOWED.into_response()
        }
        "/no-head.png" if ranged => (
            StatusCode::PARTIAL_CONTENT,
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CONTENT_RANGE, "bytes 0-0/1500"),
            ],
            vec![0u8; 1],
        )
            .into_response(),
        "/no-head.png" => file("image/png", 1500),
        "/redirect.gif" => Redirect::temporary("/ok.gif").into_response(),
        "/loop" => Redirect::temporary("/loop").into_response(),
        "/slow.gif" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            file("image/gif", 10)
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(serde::Deserialize)]
struct To {
    to: String,
}

async fn redirect_to(State(log): State<Log>, Query(to): Query<To>) -> Response {
    log.0
        .lock()
        .unwrap()
        .push(format!("GET /redirect-to {}", to.to));
    Redirect::temporary(&to.to).into_response()
}

/// Starts the media host on `ip` (port chosen by the system).
pub async fn start(ip: &str) -> MediaServer {
    let log = Log::default();
    let app = Router::new()
        .route("/redirect-to", get(redirect_to))
        .fallback(logged)
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind((ip, 0))
        .await
        .expect("bind media host");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let host = if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    MediaServer {
        base: format!("http://{host}:{}", addr.port()),
        log,
    }
}
