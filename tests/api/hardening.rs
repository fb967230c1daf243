//! Time limit, load shedding, CORS and security headers.

use std::time::Duration;

use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::auth::{KEY_A, KEY_B};
use crate::helpers::*;

async fn slow_plivo(app: &TestApp, delay: Duration) {
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(plivo_accepted())
                .set_delay(delay),
        )
        .mount(&app.plivo)
        .await;
}

fn assert_security_headers(r: &reqwest::Response) {
    let h = r.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app_with(&[("API_KEYS", KEY_A)]).await;
    for r in [
        app.get("/health", None).await,
        app.get("/nope", Some(KEY_A)).await,
        app.get("/metrics", None).await,
        app.get("/openapi.json", Some(KEY_A)).await,
        app.post_json_as(&serde_json::json!({}), Some(KEY_A)).await,
    ] {
        assert_security_headers(&r);
    }
}

#[tokio::test]
async fn a_request_over_the_time_limit_gets_json_504() {
    let app = spawn_app_with(&[("REQUEST_TIMEOUT_MS", "300"), ("PLIVO_TIMEOUT_MS", "5000")]).await;
    slow_plivo(&app, Duration::from_secs(2)).await;
    let started = std::time::Instant::now();
    let r = app.post_json(&valid_body()).await;
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_security_headers(&r);
    assert_error(r, 504, "request_timeout").await;
}

#[tokio::test]
async fn one_client_cannot_take_every_slot() {
    let app = spawn_app_with(&[
        ("API_KEYS", &format!("{KEY_A},{KEY_B}")),
        ("MAX_CONCURRENT_REQUESTS_PER_CLIENT", "1"),
        ("PLIVO_TIMEOUT_MS", "5000"),
    ])
    .await;
    slow_plivo(&app, Duration::from_millis(800)).await;
    let body = valid_body();
    let slow = app.post_json_as(&body, Some(KEY_A));
    let second = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let same = app.get("/openapi.json", Some(KEY_A)).await;
        let other = app.get("/openapi.json", Some(KEY_B)).await;
        (same, other)
    };
    let (first, (same, other)) = tokio::join!(slow, second);
    assert_eq!(first.status(), 200);
    assert_eq!(same.headers()["retry-after"], "1");
    assert_error(same, 429, "too_many_concurrent_requests").await;
    assert_eq!(other.status(), 200, "another client still gets through");
}

#[tokio::test]
async fn over_the_global_limit_requests_are_shed_but_probes_answer() {
    let app = spawn_app_with(&[
        ("API_KEYS", &format!("{KEY_A},{KEY_B}")),
        ("MAX_CONCURRENT_REQUESTS", "1"),
        ("PLIVO_TIMEOUT_MS", "5000"),
    ])
    .await;
    slow_plivo(&app, Duration::from_millis(800)).await;
    let body = valid_body();
    let slow = app.post_json_as(&body, Some(KEY_A));
    let others = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        (
            app.get("/openapi.json", Some(KEY_B)).await,
            app.get("/health", None).await,
        )
    };
    let (first, (shed, health)) = tokio::join!(slow, others);
    assert_eq!(first.status(), 200);
    assert_eq!(shed.headers()["retry-after"], "1");
    assert_error(shed, 503, "overloaded").await;
    assert_eq!(health.status(), 200);
    // Once the slow one is done there is room again.
    assert_eq!(app.get("/openapi.json", Some(KEY_B)).await.status(), 200);
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/send-mms", app.address),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn no_cors_unless_configured() {
    let app = spawn_app().await;
    let r = preflight(&app, "https://app.example").await;
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = app
        .client
        .get(format!("{}/health", app.address))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_for_the_configured_origins_only() {
    let app = spawn_app_with(&[
        ("CORS_ALLOWED_ORIGINS", "https://app.example"),
        ("API_KEYS", KEY_A),
    ])
    .await;
    let r = preflight(&app, "https://app.example").await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    let r = preflight(&app, "https://evil.example").await;
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = app
        .client
        .get(format!("{}/health", app.address))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
}

#[tokio::test]
async fn cors_answers_carry_the_request_id_and_the_refusals_carry_cors() {
    let app = spawn_app_with(&[
        ("CORS_ALLOWED_ORIGINS", "https://app.example"),
        ("API_KEYS", KEY_A),
    ])
    .await;
    // A preflight is answered without a key, and like every answer it has an id and the headers.
    let r = preflight(&app, "https://app.example").await;
    assert!(r.status().is_success(), "{}", r.status());
    assert!(r.headers().contains_key("x-request-id"));
    assert_security_headers(&r);
    // A refusal made before the handler (no key) still lets the browser read it.
    let r = app
        .client
        .post(format!("{}/send-mms", app.address))
        .header("origin", "https://app.example")
        .json(&valid_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(r.headers().contains_key("x-request-id"));
    let metrics = app.get("/metrics", Some(KEY_A)).await.text().await.unwrap();
    assert!(
        metrics.contains("method=\"OPTIONS\",route=\"/send-mms\""),
        "the preflight is counted: {metrics}"
    );
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_idle_timeout() {
    use tokio::io::AsyncReadExt;
    let app = spawn_app_with(&[("CONNECTION_IDLE_TIMEOUT_SECONDS", "1")]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut silent = tokio::net::TcpStream::connect(&address).await.unwrap();

    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await;

    // The server ends the connection (EOF or reset) instead of holding it open.
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
}

#[tokio::test]
async fn connections_over_the_limit_wait_while_every_slot_serves_a_request() {
    let app = spawn_app_with(&[("MAX_CONNECTIONS", "1"), ("PLIVO_TIMEOUT_MS", "5000")]).await;
    slow_plivo(&app, Duration::from_millis(1500)).await;
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    // The only slot serves a send that waits for Plivo: it is never closed to make room.
    let busy = tokio::spawn(
        reqwest::Client::new()
            .post(format!("{}/send-mms", app.address))
            .json(&valid_body())
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let waiting = fresh()
        .get(format!("{}/health", app.address))
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(
        waiting.is_err(),
        "a second connection was served: {waiting:?}"
    );

    assert_eq!(busy.await.unwrap().unwrap().status(), 200);
    // The first connection now only waits for another request: a new client gets its slot.
    let served = fresh()
        .get(format!("{}/health", app.address))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
}
