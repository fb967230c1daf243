//! `GET /stats` (the numbers the console's header shows, from the same store function as
//! `GET /metrics`) and how `/console` is served: its own strict policy, no key needed for the page.

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::auth::KEY_A;
use crate::helpers::*;

/// The console's policy, as the page needs it: nothing but this service's own files and API.
const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn plivo_accepts(app: &TestApp) {
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(ResponseTemplate::new(202).set_body_json(plivo_accepted()))
        .mount(&app.plivo)
        .await;
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

async fn stats_match_metrics(app: TestApp) {
    plivo_accepts(&app).await;
    for _ in 0..2 {
        assert_eq!(app.post_json(&valid_body()).await.status(), 200);
    }
    let empty = json_body(app.fetch("/stats").await).await;
    assert_eq!(empty["queueDepth"], 0);
    assert_eq!(empty["oldestUndeliveredAt"], Value::Null);
    assert_eq!(empty["oldestUndeliveredAgeSeconds"], 0.0);

    // An asynchronous send to a Plivo that keeps failing waits in the outbox.
    app.plivo.reset().await;
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(ResponseTemplate::new(503))
        .mount(&app.plivo)
        .await;
    let waiting = app
        .client
        .post(format!("{}/send-mms", app.address))
        .header("prefer", "respond-async")
        .json(&valid_body())
        .send()
        .await
        .unwrap();
    assert_eq!(waiting.status(), 202);

    let response = app.fetch("/stats").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let stats = json_body(response).await;
    let text = app.fetch("/metrics").await.text().await.unwrap();
    assert_eq!(stats["queueDepth"], 1, "{stats}");
    assert_eq!(
        stats["queueDepth"].as_f64().unwrap(),
        metric(&text, "mms_gateway_queue_depth ")
    );
    assert!(stats["oldestUndeliveredAt"].is_string(), "{stats}");
    assert!(stats["oldestUndeliveredAgeSeconds"].as_f64().unwrap() >= 0.0);
    let by_status = stats["byStatus"].as_object().unwrap();
    assert_eq!(
        by_status.keys().collect::<Vec<_>>().len(),
        7,
        "every status is listed: {stats}"
    );
    assert_eq!(by_status["queued"], 2);
    assert_eq!(by_status["delivered"], 0);
    assert_eq!(
        by_status["queued"].as_f64().unwrap(),
        metric(&text, "mms_gateway_messages{status=\"queued\"} ")
    );
    let in_outbox =
        by_status["accepted"].as_i64().unwrap() + by_status["sending"].as_i64().unwrap();
    assert_eq!(in_outbox, 1, "{stats}");
    assert!(stats["at"].is_string());
}

#[tokio::test]
async fn stats_show_the_outbox_as_metrics_do_on_sqlite() {
    stats_match_metrics(spawn_app().await).await;
}

#[tokio::test]
async fn stats_show_the_outbox_as_metrics_do_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    stats_match_metrics(spawn_app_on(db, MockServer::start().await, &[]).await).await;
}

#[tokio::test]
async fn stats_need_a_key_and_the_console_page_does_not() {
    let app = spawn_app_with(&[("API_KEYS", KEY_A)]).await;
    assert_error(app.fetch("/stats").await, 401, "unauthorized").await;
    assert_error(
        app.get("/stats", Some("wrong-key")).await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(app.get("/stats", Some(KEY_A)).await.status(), 200);

    for page in ["/console", "/console/console.js", "/console/console.css"] {
        let r = app.fetch(page).await;
        assert_eq!(r.status(), 200, "{page} without a key");
        let body = r.text().await.unwrap();
        assert!(!body.contains(KEY_A), "{page} holds no key");
    }
}

#[tokio::test]
async fn the_console_carries_its_own_policy_and_the_api_keeps_its_own() {
    let app = spawn_app().await;
    for (page, content_type) in [
        ("/console", "text/html; charset=utf-8"),
        ("/console/console.js", "text/javascript; charset=utf-8"),
        ("/console/console.css", "text/css; charset=utf-8"),
        ("/console/icon.svg", "image/svg+xml"),
    ] {
        let r = app.fetch(page).await;
        assert_eq!(r.status(), 200, "{page}");
        assert_eq!(r.headers()["content-type"], content_type, "{page}");
        assert_eq!(
            r.headers()["content-security-policy"],
            CONSOLE_CSP,
            "{page}"
        );
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    }
    let html = app.fetch("/console").await.text().await.unwrap();
    assert!(html.contains("<script src=\"/console/console.js\" defer></script>"));

    let missing = app.fetch("/console/secret.txt").await;
    assert_eq!(missing.headers()["content-security-policy"], CONSOLE_CSP);
    assert_error(missing, 404, "not_found").await;
    let traversal = app.fetch("/console/..%2F..%2FCargo.toml").await;
    assert_error(traversal, 404, "not_found").await;

    for api in ["/health", "/stats", "/messages", "/openapi.json"] {
        let r = app.fetch(api).await;
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{api}: {csp}");
        assert!(!csp.contains("'self'"), "{api}: {csp}");
    }
}

#[tokio::test]
async fn stats_and_the_console_are_in_the_openapi_description() {
    let app = spawn_app().await;
    let spec = json_body(app.fetch("/openapi.json").await).await;
    assert!(spec["paths"]["/stats"]["get"]["responses"]["200"].is_object());
    assert!(spec["components"]["schemas"]["Stats"]["properties"]["byStatus"].is_object());
    assert!(spec["paths"]["/console"]["get"].is_object());
    assert_eq!(spec["paths"]["/console"]["get"]["security"], json!([{}]));
}
